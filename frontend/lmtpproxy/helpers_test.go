package lmtpproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/servermap"
)

// fakeLocator is a location cache in memory; cluster, when set, stands in
// for the cluster asked about names the cache lacks.
type fakeLocator struct {
	mu          sync.Mutex
	entries     map[string]locator.Entry
	ready       bool
	lastContact time.Time
	cluster     func(name string) (locator.Entry, bool, error)
}

func newLocator(entries ...locator.Entry) *fakeLocator {
	l := &fakeLocator{entries: map[string]locator.Entry{}, ready: true, lastContact: time.Now()}
	for _, e := range entries {
		l.entries[e.Name] = e
	}
	return l
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

func (l *fakeLocator) Lag() (uint64, time.Time, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, l.lastContact, l.lastContact
}

func (l *fakeLocator) set(f func(l *fakeLocator)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l)
}

func user(name, server string) locator.Entry {
	return locator.Entry{Name: "user." + name, Location: server + "!default", ACL: name + "\tlrswipkxtecdan\t"}
}

// delivery is one message a test backend took.
type delivery struct {
	from        string
	rcpt        string
	ignoreQuota bool
	authUser    string
	body        string
}

// testBackend is an LMTP server standing in for a backend's lmtpd: go-smtp
// behind the same IGNOREQUOTA carrier, with AUTH PLAIN for the proxy.
type testBackend struct {
	t     testing.TB
	l     net.Listener
	srv   *smtp.Server
	conns atomic.Int32
	rcpts atomic.Int32 // RCPTs taken

	mu         sync.Mutex
	deliveries []delivery      // protected by mu
	refuse     map[string]bool // protected by mu: addresses answered 550 5.1.1 at RCPT
	overQuota  map[string]bool // protected by mu: refused at DATA unless IGNOREQUOTA
}

func startBackend(t testing.TB) *testBackend {
	t.Helper()
	b := &testBackend{t: t, refuse: map[string]bool{}, overQuota: map[string]bool{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.l = l
	b.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		b.conns.Add(1)
		return &backendSession{b: b, conn: c.Conn().(*paramConn)}, nil
	}))
	b.srv.LMTP = true
	b.srv.Domain = "backend"
	b.srv.AllowInsecureAuth = true
	b.srv.MaxLineLength = 0 // as Cyrus's lmtpd
	b.srv.ErrorLog = discardLog{}
	go b.srv.Serve(&paramListener{l})
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *testBackend) addr() string { return b.l.Addr().String() }

func (b *testBackend) got() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]delivery(nil), b.deliveries...)
}

type paramListener struct{ net.Listener }

func (l *paramListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newParamConn(c, time.Minute), nil
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

type backendSession struct {
	b        *testBackend
	conn     *paramConn
	authUser string
	from     string
	rcpts    []delivery
}

func (s *backendSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *backendSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "proxy" || password != "proxy-pw" {
			return errors.New("bad credentials")
		}
		s.authUser = username
		return nil
	}), nil
}

func (s *backendSession) Reset()        { s.from, s.rcpts = "", nil }
func (s *backendSession) Logout() error { return nil }

func (s *backendSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.authUser == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *backendSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	iq := s.conn.ignoreQuota(to)
	s.b.mu.Lock()
	refused := s.b.refuse[to]
	s.b.mu.Unlock()
	if refused {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}
	}
	s.rcpts = append(s.rcpts, delivery{from: s.from, rcpt: to, ignoreQuota: iq, authUser: s.authUser})
	s.b.rcpts.Add(1)
	return nil
}

func (s *backendSession) Data(io.Reader) error { return errors.New("LMTP only") }

func (s *backendSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	for _, d := range s.rcpts {
		if s.b.overQuota[d.rcpt] && !d.ignoreQuota {
			status.SetStatus(d.rcpt, &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Over quota"})
			continue
		}
		d.body = string(body)
		s.b.deliveries = append(s.b.deliveries, d)
		status.SetStatus(d.rcpt, nil)
	}
	return nil
}

// startProxy serves a proxy in front of the backends, named be1, be2, ...
func startProxy(t testing.TB, loc Locator, cfg func(*Config), backends ...*testBackend) (*Server, string) {
	t.Helper()
	m := servermap.Map{}
	for i, b := range backends {
		m["be"+string(rune('1'+i))] = servermap.Addrs{servermap.LMTP: b.addr()}
	}
	c := Config{Locator: loc, BackendMap: m, ProxyUser: "proxy", ProxyPassword: "proxy-pw",
		SpoolDir: t.TempDir(), Hostname: "frontend", IdleTimeout: 5 * time.Second}
	if cfg != nil {
		cfg(&c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return s, l.Addr().String()
}

// lmtpConn is a raw LMTP client, for exact replies and pipelining.
type lmtpConn struct {
	t *testing.T
	c net.Conn
	r *textproto.Reader
}

func dialLMTP(t *testing.T, addr string) *lmtpConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	lc := &lmtpConn{t: t, c: c, r: textproto.NewReader(bufio.NewReader(c))}
	lc.expect("220")
	return lc
}

func (lc *lmtpConn) send(lines ...string) {
	lc.t.Helper()
	if _, err := io.WriteString(lc.c, strings.Join(lines, "\r\n")+"\r\n"); err != nil {
		lc.t.Fatal(err)
	}
}

// reply reads one whole reply and returns its lines joined by newlines.
func (lc *lmtpConn) reply() string {
	lc.t.Helper()
	var lines []string
	for {
		line, err := lc.r.ReadLine()
		if err != nil {
			lc.t.Fatalf("reading a reply after %q: %v", lines, err)
		}
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// expect reads one reply and fails unless it starts with prefix.
func (lc *lmtpConn) expect(prefix string) string {
	lc.t.Helper()
	r := lc.reply()
	if !strings.HasPrefix(r, prefix) {
		lc.t.Fatalf("reply %q, want one starting %q", r, prefix)
	}
	return r
}
