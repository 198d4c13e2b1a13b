package pop3proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/servermap"
	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/certs"
)

// fakeLocator is a location cache in memory; cluster, when set, stands in
// for the cluster asked about names the cache lacks.
type fakeLocator struct {
	mu      sync.Mutex
	entries map[string]locator.Entry
	ready   bool
	cluster func(name string) (locator.Entry, bool, error)
}

func (l *fakeLocator) Find(_ context.Context, name string) (locator.Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[name]; ok || l.cluster == nil {
		return e, ok, nil
	}
	return l.cluster(name)
}

func (l *fakeLocator) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// testBackend is a POP3 server standing in for a backend's pop3d: jane's
// maildrop holds two messages; noAuth makes it a server without AUTH.
type testBackend struct {
	l        net.Listener
	noAuth   bool
	mu       sync.Mutex
	commands []string // protected by mu: after login
}

func startBackend(t *testing.T, noAuth bool) *testBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{l: l, noAuth: noAuth}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return b
}

func (b *testBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "+OK backend Cyrus POP3 server ready\r\n")
	var user string
	in := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		if in {
			b.mu.Lock()
			b.commands = append(b.commands, line)
			b.mu.Unlock()
		}
		switch strings.ToUpper(verb) {
		case "AUTH":
			if b.noAuth {
				fmt.Fprintf(c, "-ERR Unrecognized command\r\n")
				continue
			}
			mech, ir, _ := strings.Cut(arg, " ")
			raw, _ := base64.StdEncoding.DecodeString(ir)
			if mech == "PLAIN" && string(raw) == "\x00jane\x00jane-pw" {
				in = true
				fmt.Fprintf(c, "+OK Mailbox locked and ready SESSIONID=<x>\r\n")
			} else {
				fmt.Fprintf(c, "-ERR [AUTH] authenticating: authentication failure\r\n")
			}
		case "USER":
			user = arg
			fmt.Fprintf(c, "+OK Name is a valid mailbox\r\n")
		case "PASS":
			if user == "jane" && arg == "jane-pw" {
				in = true
				fmt.Fprintf(c, "+OK Mailbox locked and ready\r\n")
			} else {
				fmt.Fprintf(c, "-ERR [AUTH] Invalid login\r\n")
			}
		case "STAT":
			fmt.Fprintf(c, "+OK 2 320\r\n")
		case "RETR":
			fmt.Fprintf(c, "+OK 160 octets\r\nSubject: one\r\n\r\n..dot\r\n.\r\n")
		case "QUIT":
			fmt.Fprintf(c, "+OK bye\r\n")
			return
		default:
			fmt.Fprintf(c, "-ERR Unrecognized command\r\n")
		}
	}
}

func (b *testBackend) got() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.commands...)
}

func startProxy(t *testing.T, loc *fakeLocator, tlsConf *tls.Config, requireTLS bool, backends map[string]string) string {
	t.Helper()
	m := servermap.Map{}
	for name, addr := range backends {
		m[name] = servermap.Addrs{servermap.POP3: addr}
	}
	return serveProxy(t, Config{Locator: loc, BackendMap: m, TLS: tlsConf, RequireTLS: requireTLS, IdleTimeout: 5 * time.Second}, false)
}

// serveProxy serves a proxy for cfg on a loopback port.
func serveProxy(t *testing.T, cfg Config, implicitTLS bool) string {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l, implicitTLS)
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

type pop3Conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialPOP3(t *testing.T, addr string) *pop3Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &pop3Conn{t: t, c: c, br: bufio.NewReader(c)}
	p.expect("+OK")
	return p
}

func (p *pop3Conn) send(lines ...string) {
	p.t.Helper()
	p.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(p.c, "%s\r\n", strings.Join(lines, "\r\n")); err != nil {
		p.t.Fatal(err)
	}
}

func (p *pop3Conn) line() string {
	p.t.Helper()
	p.c.SetDeadline(time.Now().Add(10 * time.Second))
	l, err := p.br.ReadString('\n')
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

func (p *pop3Conn) expect(prefix string) string {
	p.t.Helper()
	l := p.line()
	if !strings.HasPrefix(l, prefix) {
		p.t.Fatalf("reply %q, want %s", l, prefix)
	}
	return l
}

// multiline reads a multi-line reply's body up to the lone dot.
func (p *pop3Conn) multiline() []string {
	p.t.Helper()
	var out []string
	for l := p.line(); l != "."; l = p.line() {
		out = append(out, l)
	}
	return out
}

func janeOn(server string) *fakeLocator {
	return &fakeLocator{ready: true, entries: map[string]locator.Entry{
		"user.jane": {Name: "user.jane", Location: server + "!default"},
		"user.john": {Name: "user.john", Location: "gone!default"},
	}}
}

func TestLoginAndPipe(t *testing.T) {
	be := startBackend(t, false)
	addr := startProxy(t, janeOn("be1"), nil, false, map[string]string{"be1": be.l.Addr().String(), "gone": "127.0.0.1:1"})
	p := dialPOP3(t, addr)
	p.send("CAPA")
	p.expect("+OK")
	if caps := strings.Join(p.multiline(), " "); !strings.Contains(caps, "SASL PLAIN") || !strings.Contains(caps, "USER") || strings.Contains(caps, "STLS") {
		t.Errorf("CAPA = %q, want SASL PLAIN and USER, no STLS without a certificate", caps)
	}
	p.send("STAT")
	p.expect("-ERR")
	p.send("APOP jane 0123456789abcdef")
	p.expect("-ERR [AUTH]")
	p.send("USER jane", "PASS wrong")
	p.expect("+OK")
	p.expect("-ERR [AUTH]")
	// Credentials and the commands pipelined behind them reach the backend.
	p.send("USER jane", "PASS jane-pw", "STAT", "RETR 1")
	p.expect("+OK Name")
	p.expect("+OK Mailbox locked")
	p.expect("+OK 2 320")
	p.expect("+OK 160")
	if got := strings.Join(p.multiline(), "\n"); got != "Subject: one\n\n..dot" {
		t.Errorf("RETR 1 = %q, want the backend's lines, dot-stuffing kept", got)
	}
	p.send("QUIT")
	p.expect("+OK bye")
	if got := strings.Join(be.got(), ","); got != "STAT,RETR 1,QUIT" {
		t.Errorf("the backend got %q after login, want STAT,RETR 1,QUIT", got)
	}
}

func TestAuthPlain(t *testing.T) {
	for _, noAuth := range []bool{false, true} {
		be := startBackend(t, noAuth)
		addr := startProxy(t, janeOn("be1"), nil, false, map[string]string{"be1": be.l.Addr().String()})
		p := dialPOP3(t, addr)
		p.send("AUTH")
		p.expect("+OK")
		if got := p.multiline(); len(got) != 1 || got[0] != "PLAIN" {
			t.Errorf("AUTH = %q, want PLAIN", got)
		}
		p.send("AUTH LOGIN")
		p.expect("-ERR")
		p.send("AUTH PLAIN")
		p.expect("+ ")
		p.send("*")
		p.expect("-ERR")
		p.send("AUTH PLAIN")
		p.expect("+ ")
		p.send(base64.StdEncoding.EncodeToString([]byte("\x00jane\x00jane-pw")))
		p.expect("+OK Mailbox locked")
		p.send("STAT")
		p.expect("+OK 2 320")
	}
}

func TestLoginFailures(t *testing.T) {
	be := startBackend(t, false)
	loc := janeOn("be1")
	addr := startProxy(t, loc, nil, false, map[string]string{"be1": be.l.Addr().String(), "gone": "127.0.0.1:1"})
	p := dialPOP3(t, addr)
	p.send("USER nobody", "PASS pw")
	p.expect("+OK")
	if got := p.expect("-ERR [AUTH]"); !strings.Contains(got, "no INBOX") {
		t.Errorf("login without an INBOX: %q, want it to say so", got)
	}
	p.send("USER john", "PASS pw")
	p.expect("+OK")
	p.expect("-ERR [SYS/TEMP]")
	p.send("PASS pw")
	p.expect("-ERR")
	loc.mu.Lock()
	loc.ready = false
	loc.mu.Unlock()
	p.send("USER jane", "PASS jane-pw")
	p.expect("+OK")
	p.expect("-ERR [SYS/TEMP]")
	// A line too long, still being sent when the proxy gives up: the
	// reply arrives all the same.
	p.send("NOOP " + strings.Repeat("x", 4<<20))
	p.expect("-ERR Line too long")
}

func TestConfirmWithCluster(t *testing.T) {
	be := startBackend(t, false)
	loc := &fakeLocator{ready: true, cluster: func(name string) (locator.Entry, bool, error) {
		if name == "user.jane" {
			return locator.Entry{Name: name, Location: "be1!default"}, true, nil
		}
		return locator.Entry{}, false, errors.New("no leader")
	}}
	addr := serveProxy(t, Config{Locator: loc, IdleTimeout: 5 * time.Second,
		BackendMap: servermap.Map{"be1": {servermap.POP3: be.l.Addr().String()}}}, false)
	p := dialPOP3(t, addr)
	p.send("USER bob", "PASS pw")
	p.expect("+OK")
	p.expect("-ERR [SYS/TEMP]")
	// jane's INBOX is not in the cache yet, but the cluster has it.
	p.send("USER jane", "PASS jane-pw", "STAT")
	p.expect("+OK")
	p.expect("+OK Mailbox locked")
	p.expect("+OK 2 320")
}

func TestSTLS(t *testing.T) {
	ca, err := certs.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(certs.Request{Name: "frontend", Role: auth.RoleNode, Hosts: []string{"127.0.0.1"}, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	be := startBackend(t, false)
	addr := startProxy(t, janeOn("be1"), &tls.Config{Certificates: []tls.Certificate{pair}}, true, map[string]string{"be1": be.l.Addr().String()})
	p := dialPOP3(t, addr)
	p.send("CAPA")
	p.expect("+OK")
	if caps := p.multiline(); !strings.Contains(strings.Join(caps, " "), "STLS") {
		t.Errorf("CAPA = %q, want STLS", caps)
	}
	p.send("USER jane")
	p.expect("-ERR [AUTH] TLS is required")
	p.send("STLS")
	p.expect("+OK")
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tc := tls.Client(p.c, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	p.c, p.br = tc, bufio.NewReader(tc)
	p.send("USER jane", "PASS jane-pw", "STAT")
	p.expect("+OK")
	p.expect("+OK Mailbox locked")
	p.expect("+OK 2 320")

	// POP3S: TLS from the first byte, no STLS offered.
	pop3s := serveProxy(t, Config{Locator: janeOn("be1"), TLS: &tls.Config{Certificates: []tls.Certificate{pair}},
		BackendMap: servermap.Map{"be1": {servermap.POP3: be.l.Addr().String()}}}, true)
	c, err := tls.Dial("tcp", pop3s, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	q := &pop3Conn{t: t, c: c, br: bufio.NewReader(c)}
	q.expect("+OK")
	q.send("CAPA")
	q.expect("+OK")
	if caps := q.multiline(); strings.Contains(strings.Join(caps, " "), "STLS") {
		t.Errorf("CAPA over POP3S = %q, want no STLS", caps)
	}
	q.send("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00jane\x00jane-pw")), "STAT")
	q.expect("+OK Mailbox locked")
	q.expect("+OK 2 320")
}
