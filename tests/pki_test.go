package tests

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/certs"
	"github.com/roost-mail/roost/raftfsm/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// testPKI is a cluster CA in a directory of its own, which issues node
// and client certificates as roostctl cert does.
type testPKI struct {
	dir string
	ca  *certs.CA
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	ca, err := certs.NewCA("test cluster CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), ca: ca}
	writeAtomic(t, p.caFile(), ca.CertPEM)
	return p
}

func (p *testPKI) caFile() string { return filepath.Join(p.dir, "ca.crt") }

// issue writes NAME.crt and NAME.key for 127.0.0.1, replacing any earlier
// ones, and returns their paths.
func (p *testPKI) issue(t testing.TB, name string, role auth.Role) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, err := p.ca.Issue(certs.Request{Name: name, Role: role, Hosts: []string{"127.0.0.1"}, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
	writeAtomic(t, keyFile, keyPEM)
	writeAtomic(t, certFile, certPEM)
	return certFile, keyFile
}

// tlsConfig is a client's TLS trusting the CA, with the certificate of
// name in role (none when role is 0).
func (p *testPKI) tlsConfig(t testing.TB, name string, role auth.Role) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if role != 0 {
		c, k := p.issue(t, name, role)
		pair, err := tls.LoadX509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf
}

// dial connects to a node's gRPC address as name in role, or, with role
// 0, with no certificate (and password, if given, as user).
func (p *testPKI) dial(t testing.TB, addr, name string, role auth.Role, password ...string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(p.tlsConfig(t, name, role)))}
	if len(password) > 0 {
		opts = append(opts, grpc.WithPerRPCCredentials(client.NewBasicAuth(name, password[0])))
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func writeAtomic(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
