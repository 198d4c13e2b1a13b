package client

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/roost-mail/roost/raftfsm/certs"
)

// Files name the PEM files and password file a caller proves who it is
// with, as command-line tools take them: a CA turns TLS on; a client
// certificate and key, or a user name and password file, give the
// identity. Which ones go together is for the caller to check.
type Files struct {
	CA, Cert, Key      string
	User, PasswordFile string
}

// Config reads the files into a Config (without endpoints). With no CA it
// is plaintext and empty. The nodes' certificates must name the node
// role, so that no other holder of a certificate from the CA gets the
// caller's password or requests.
func (f Files) Config() (Config, error) {
	if f.CA == "" {
		return Config{}, nil
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return Config{}, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return Config{}, fmt.Errorf("%s holds no PEM certificate", f.CA)
	}
	cfg := Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, VerifyConnection: certs.RequireNode}}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return Config{}, err
		}
		cfg.TLS.Certificates = []tls.Certificate{pair}
	}
	if f.User != "" {
		pw, err := ReadPassword(f.PasswordFile)
		if err != nil {
			return Config{}, err
		}
		cfg.User, cfg.Password = f.User, pw
	}
	return cfg, nil
}

// ReadPassword reads a password file: its first line, without the line
// break editors add.
func ReadPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: empty password", path)
	}
	return pw, nil
}
