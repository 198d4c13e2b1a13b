package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/certs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// security is how a measured cluster and its clients connect: in
// plaintext, or with mutual TLS everywhere (gRPC between clients and
// nodes and between nodes, and Raft), with certificates from a CA of the
// run's own.
type security struct {
	mode string // "plain" or "mtls"
	dir  string // the CA and the certificates, for mtls
	ca   *certs.CA
}

func newSecurity(mode, dir string) (*security, error) {
	s := &security{mode: mode, dir: dir}
	switch mode {
	case "plain":
		return s, nil
	case "mtls":
	default:
		return nil, fmt.Errorf("bad -tls %q: plain or mtls", mode)
	}
	var err error
	if s.ca, err = certs.NewCA("bench CA", 24*time.Hour); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(dir, "ca.crt"), s.ca.CertPEM, 0o600)
}

// label is what the table's store column says of a cluster.
func (s *security) label(store string) string {
	if s.mode == "mtls" {
		return store + ", mTLS"
	}
	return store
}

// issue writes a certificate and key for name in role.
func (s *security) issue(name string, role auth.Role) (certFile, keyFile string, err error) {
	certPEM, keyPEM, err := s.ca.Issue(certs.Request{Name: name, Role: role, Hosts: []string{"127.0.0.1"}, ValidFor: 24 * time.Hour})
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(s.dir, name+".crt"), filepath.Join(s.dir, name+".key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, keyPEM, 0o600)
}

// configure gives a node its certificate.
func (s *security) configure(c *node.Config) error {
	if s.mode == "plain" {
		return nil
	}
	var err error
	c.TLSCert, c.TLSKey, err = s.issue(c.NodeID, auth.RoleNode)
	c.TLSCA = filepath.Join(s.dir, "ca.crt")
	return err
}

// dialOption is how the load's clients connect: as an admin with a
// client certificate, under mTLS.
func (s *security) dialOption() (grpc.DialOption, error) {
	if s.mode == "plain" {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	certFile, keyFile, err := s.issue("bench-client", auth.RoleAdmin)
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}})), nil
}
