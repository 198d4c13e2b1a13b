package certs

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/raftfsm/auth"
)

// issue writes a certificate and key for name into dir and returns their
// files, with the CA's.
func issue(t *testing.T, ca *CA, dir, name string, role auth.Role) Files {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(Request{Name: name, Role: role, Hosts: []string{"127.0.0.1", "localhost"}, ValidFor: time.Hour})
	if err != nil {
		t.Fatalf("Issue(%s): %v", name, err)
	}
	f := Files{Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key"), CA: filepath.Join(dir, "ca.crt")}
	write(t, f.Cert, certPEM)
	write(t, f.Key, keyPEM)
	write(t, f.CA, ca.CertPEM)
	return f
}

// write overwrites path in place: a change Reload must notice as well
// as a rename over it.
func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestLoadChecks(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	node := issue(t, ca, dir, "node1", auth.RoleNode)
	node.Role = auth.RoleNode
	if _, err := Load(node); err != nil {
		t.Fatalf("Load(node certificate): %v", err)
	}
	admin := issue(t, ca, dir, "root", auth.RoleAdmin)
	admin.Role = auth.RoleNode
	if _, err := Load(admin); err == nil || !strings.Contains(err.Error(), "role admin") {
		t.Errorf("Load(admin certificate as a node) = %v, want a role error", err)
	}
	other := issue(t, newCA(t), t.TempDir(), "node9", auth.RoleNode)
	other.CA = node.CA
	if _, err := Load(other); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Errorf("Load(certificate of another CA) = %v, want a signature error", err)
	}
	crossed := node
	crossed.Key = filepath.Join(dir, "root.key")
	if _, err := Load(crossed); err == nil {
		t.Error("Load(certificate with another's key) succeeded")
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	files := issue(t, ca, dir, "node1", auth.RoleNode)
	files.Role = auth.RoleNode
	m, err := Load(files)
	if err != nil {
		t.Fatal(err)
	}
	first := m.Serial()
	if changed, err := m.Reload(false); changed || err != nil {
		t.Fatalf("Reload of unchanged files = %v, %v, want false, nil", changed, err)
	}
	issue(t, ca, dir, "node1", auth.RoleNode)
	if changed, err := m.Reload(false); !changed || err != nil {
		t.Fatalf("Reload of a new certificate = %v, %v, want true, nil", changed, err)
	}
	second := m.Serial()
	if second == first {
		t.Fatal("serial unchanged after a new certificate was loaded")
	}
	write(t, files.Cert, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"))
	if changed, err := m.Reload(false); changed || err == nil {
		t.Fatalf("Reload of a corrupt certificate = %v, %v, want false and an error", changed, err)
	}
	if m.Serial() != second {
		t.Error("a corrupt certificate replaced the one in use")
	}
	// The refused version is reported once, not at every poll.
	if changed, err := m.Reload(false); changed || err != nil {
		t.Errorf("second Reload of the same corrupt file = %v, %v, want false, nil", changed, err)
	}
	if _, err := m.Reload(true); err == nil {
		t.Error("forced Reload of a corrupt certificate succeeded")
	}
}

// handshake runs a TLS handshake over loopback between server and a
// client config, and returns each side's error.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, server)
		err = tc.Handshake()
		if err == nil {
			_, err = tc.Write([]byte{1})
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), client)
	if err == nil {
		// A TLS 1.3 client learns the server's verdict on its
		// certificate at its first read: the byte, or an alert.
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	return <-done, err
}

func TestPeerConfigs(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t)
	load := func(f Files) *Material {
		t.Helper()
		m, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	n1 := load(issue(t, ca, dir, "node1", auth.RoleNode))
	n2 := load(issue(t, ca, dir, "node2", auth.RoleNode))
	admin := load(issue(t, ca, dir, "root", auth.RoleAdmin))
	stranger := load(issue(t, newCA(t), t.TempDir(), "node3", auth.RoleNode))

	server, _ := n1.PeerConfigs()
	_, dial2 := n2.PeerConfigs()
	if se, ce := handshake(t, server, dial2("127.0.0.1")); se != nil || ce != nil {
		t.Fatalf("node to node: server %v, client %v", se, ce)
	}
	if se, _ := handshake(t, server, admin.ClientConfig("127.0.0.1")); se == nil {
		t.Error("the Raft side accepted an admin certificate")
	}
	if se, _ := handshake(t, server, &tls.Config{RootCAs: n2.cur.Load().pool, ServerName: "127.0.0.1"}); se == nil {
		t.Error("the Raft side accepted a client without a certificate")
	}
	_, dial3 := stranger.PeerConfigs()
	if se, ce := handshake(t, server, dial3("127.0.0.1")); se == nil && ce == nil {
		t.Error("nodes of different CAs reached each other")
	}
	if _, ce := handshake(t, admin.ServerConfig(tls.NoClientCert), dial2("127.0.0.1")); ce == nil {
		t.Error("a node dialled a peer whose certificate is not a node's")
	}
	if _, ce := handshake(t, server, dial2("192.0.2.1")); ce == nil {
		t.Error("a node accepted a certificate for another address")
	}
}
