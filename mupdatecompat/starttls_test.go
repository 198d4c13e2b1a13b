package mupdatecompat

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/roost-mail/roost/raftfsm/grpcserver"
)

// testTLS returns a server config with a fresh self-signed certificate
// for 127.0.0.1, and a client config that trusts it.
func testTLS(t *testing.T) (*tls.Config, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "roost-test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// lineReader reads CRLF lines and checks them, line ending included.
type lineReader struct {
	t  *testing.T
	br *bufio.Reader
}

func (r lineReader) expect(want string) {
	r.t.Helper()
	got, err := r.br.ReadString('\n')
	if err != nil || got != want+"\r\n" {
		r.t.Fatalf("server said %q (%v), want %q", got, err, want)
	}
}

// TestStartTLS: with TLS required, the banner offers no mechanism but
// STARTTLS (how Cyrus clients are made to encrypt); after the handshake
// a new banner offers the mechanisms and the session proceeds.
func TestStartTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	addr, _ := testServerNamed(t, testUsers, "", func(c *Config) { c.TLS, c.RequireTLS = serverTLS, true })
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := lineReader{t, bufio.NewReader(nc)}
	r.expect(`* AUTH`)
	r.expect(`* STARTTLS`)
	r.expect(`* PARTIAL-UPDATE`)
	r.expect(`* OK MUPDATE "roost" "Roost" "1" "(master)"`)
	nc.Write([]byte("A01 AUTHENTICATE \"PLAIN\" \"AGZlAHB3Zg==\"\r\nS01 STARTTLS\r\n"))
	r.expect(`A01 NO "encryption required: use STARTTLS"`)
	r.expect(`S01 OK "Begin TLS negotiation now"`)
	tc := tls.Client(nc, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	r = lineReader{t, bufio.NewReader(tc)}
	r.expect(`* AUTH "PLAIN" "LOGIN"`)
	r.expect(`* PARTIAL-UPDATE`)
	r.expect(`* OK MUPDATE "roost" "Roost" "1" "(master)"`)
	tc.Write([]byte("S02 STARTTLS\r\nA02 AUTHENTICATE \"PLAIN\" \"AGZlAHB3Zg==\"\r\nF1 FIND \"user.none\"\r\n"))
	r.expect(`S02 BAD "Already did a successful Starttls"`)
	r.expect(`A02 OK "Authenticated"`)
	r.expect(`F1 OK "Search completed"`)
}

// TestImplicitTLS serves Cyrus clients configured with host:port/tls.
func TestImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	_, st := testServerNamed(t, testUsers, "")
	fwd := grpcserver.NewForwarder(st, nil)
	t.Cleanup(func() { fwd.Close() })
	s := New(Config{FSM: st.FSM(), Cluster: fwd, TLS: serverTLS})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.ServeTLS(l) }()
	t.Cleanup(func() { s.Close(); <-served })
	tc, err := tls.Dial("tcp", l.Addr().String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(20 * time.Second))
	r := lineReader{t, bufio.NewReader(tc)}
	r.expect(`* AUTH "PLAIN" "LOGIN"`)
	r.expect(`* PARTIAL-UPDATE`)
	r.expect(`* OK MUPDATE "roost" "Roost" "1" "(master)"`)
}
