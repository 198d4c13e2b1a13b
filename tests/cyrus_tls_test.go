package tests

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roost-mail/roost/raftfsm"
)

// TestCyrusOverTLS: real Cyrus backends reach a node over TLS both ways
// Cyrus can: `mupdate_server: host:port/tls` against the implicit-TLS
// listener, and STARTTLS on the plain listener, which offers no SASL
// mechanism before TLS (--mupdate-require-tls), so a login there proves
// the backend negotiated TLS first. Each backend's ctl_mboxlist -m and an
// IMAP CREATE arrive in Roost.
func TestCyrusOverTLS(t *testing.T) {
	needCyrus(t)
	certFile, keyFile := writeCert(t, cyrusDir(t))
	logs := &syncBuffer{}
	tn := &testNode{id: "tls1", tls: &mupdateTLS{cert: certFile, key: keyFile, require: true},
		logger: slog.New(slog.NewJSONHandler(logs, nil))}
	tn.tls.addr = freePort(t)
	startNode(t, tn, nil, false)
	waitMembers(t, []*testNode{tn}, map[string]bool{tn.id: true})

	trust := "tls_client_ca_file: " + certFile // self-signed: its own CA
	for _, tc := range []struct{ name, server string }{
		{"betls", tn.tls.addr + "/tls"},
		{"bestarttls", tn.mupdateAddr},
	} {
		be := startCyrus(t, tc.name, "backend", tc.server, trust)
		be.imap(t, "CREATE user."+tc.name)
		waitFor(t, tc.name+"'s mailbox in Roost", 30*time.Second, func() error {
			m, _ := tn.n.Store().FSM().Get("user." + tc.name)
			if m == nil || m.State != raftfsm.StateActive || !strings.HasPrefix(m.Location, tc.name+"!") {
				return fmt.Errorf("user.%s = %+v", tc.name, m)
			}
			return nil
		})
	}
	var logins, plain int
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg string
			TLS bool
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "authenticated" {
			logins++
			if !rec.TLS {
				plain++
			}
		}
	}
	if logins == 0 || plain > 0 {
		t.Errorf("%d MUPDATE logins, %d of them without TLS; want some, all over TLS", logins, plain)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeCert writes a self-signed certificate for 127.0.0.1, which is also
// its own CA, with 0644 permissions so Cyrus's user can read it.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{cert: {Type: "CERTIFICATE", Bytes: der}, key: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}
