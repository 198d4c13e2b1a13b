package imapproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
)

// memLocator is a location table in memory.
type memLocator struct{ m map[string]locator.Entry }

func (l memLocator) Lookup(name string) (locator.Entry, bool) { e, ok := l.m[name]; return e, ok }
func (l memLocator) List(prefix string, fn func(locator.Entry) bool) error {
	var names []string
	for n := range l.m {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if !fn(l.m[n]) {
			break
		}
	}
	return nil
}
func (l memLocator) WaitFor(ctx context.Context, cond func() bool) error { cond(); return nil }
func (l memLocator) Ready() bool                                         { return true }
func (l memLocator) Servers() map[string]int {
	n := map[string]int{}
	for _, e := range l.m {
		n[e.Server()]++
	}
	return n
}

// lineBackend is a minimal IMAP server that logs in anyone, answers
// every other command OK, and records the lines it was sent.
type lineBackend struct {
	l       net.Listener
	mu      sync.Mutex
	lines   []string
	endIdle bool         // IDLE ends at once, without waiting for DONE
	closed  atomic.Int32 // connections ended
	// replies: untagged lines sent before the OK of a command whose
	// line starts with the key (after the tag).
	replies map[string][]string
}

func startLineBackend(t *testing.T) *lineBackend {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &lineBackend{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go b.serve(conn)
		}
	}()
	return b
}

func (b *lineBackend) serve(conn net.Conn) {
	defer b.closed.Add(1)
	defer conn.Close()
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "* OK test backend\r\n")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		b.mu.Lock()
		b.lines = append(b.lines, line)
		b.mu.Unlock()
		tag, rest, _ := strings.Cut(line, " ")
		if strings.Contains(rest, "STALL") {
			continue // never answered
		}
		if strings.EqualFold(rest, "IDLE") {
			fmt.Fprintf(conn, "+ idling\r\n")
			b.mu.Lock()
			end := b.endIdle
			b.mu.Unlock()
			if !end {
				done, err := br.ReadString('\n')
				if err != nil {
					return
				}
				b.mu.Lock()
				b.lines = append(b.lines, strings.TrimRight(done, "\r\n"))
				b.mu.Unlock()
			}
		}
		b.mu.Lock()
		for key, lines := range b.replies {
			if strings.HasPrefix(rest, key) {
				for _, l := range lines {
					fmt.Fprintf(conn, "%s\r\n", l)
				}
			}
		}
		b.mu.Unlock()
		if strings.HasPrefix(strings.ToUpper(rest), "CAPABILITY") {
			fmt.Fprintf(conn, "* CAPABILITY IMAP4rev1 LITERAL+ UNSELECT\r\n")
		}
		fmt.Fprintf(conn, "%s OK done\r\n", tag)
	}
}

func (b *lineBackend) got() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines)
}

// TestLiteralMailboxName: a mailbox name sent as a literal reaches the
// backend whole, on one line with the rest of the command.
func TestLiteralMailboxName(t *testing.T) {
	be, srv, conn, read := startProxy(t)
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\n")
	if r := read(); !strings.HasPrefix(r, "a OK") {
		t.Fatalf("LOGIN = %q", r)
	}
	fmt.Fprintf(conn, "b SELECT {4}\r\n")
	if r := read(); !strings.HasPrefix(r, "+") {
		t.Fatalf("SELECT {4} = %q, want a continuation", r)
	}
	fmt.Fprintf(conn, "Sent (CONDSTORE)\r\n")
	if r := read(); !strings.HasPrefix(r, "b OK") {
		t.Fatalf("SELECT = %q", r)
	}
	if got := be.got(); !slices.Contains(got, `b SELECT "Sent" (CONDSTORE)`) {
		t.Errorf("the backend got %q, want the SELECT on one line", got)
	}
	_ = srv
}

// TestCloseEndsWaitingSessions: Close returns while a session waits on a
// backend that never answers.
func TestCloseEndsWaitingSessions(t *testing.T) {
	be, srv, conn, read := startProxy(t)
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\n")
	read()
	fmt.Fprintf(conn, "b STATUS Sent (STALL)\r\n")
	for deadline := time.Now().Add(10 * time.Second); !slices.ContainsFunc(be.got(), func(l string) bool { return strings.Contains(l, "STALL") }); {
		if time.Now().After(deadline) {
			t.Fatal("the STATUS never reached the backend")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a session waited on a backend")
	}
}

func startProxy(t *testing.T, configure ...func(*Config)) (*lineBackend, *Server, net.Conn, func() string) {
	t.Helper()
	be := startLineBackend(t)
	loc := memLocator{m: map[string]locator.Entry{
		"user.jane":      {Name: "user.jane", Location: "be!default", ACL: "jane\tlrswipkxtecdan\t"},
		"user.jane.Sent": {Name: "user.jane.Sent", Location: "be!default", ACL: "jane\tlrswipkxtecdan\t"},
	}}
	ns, _ := namespace.New(nil)
	cfg := Config{Locator: loc, Namespace: ns, BackendMap: servermap.Map{"be": {servermap.IMAP: be.l.Addr().String()}}}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l, false)
	t.Cleanup(func() { srv.Close() })

	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	read := func() string {
		s, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (backend got %q)", err, be.got())
		}
		return strings.TrimRight(s, "\r\n")
	}
	return be, srv, conn, read
}

// TestSessionSurvivesLostInbox: a command that breaks off mid-literal
// costs the session its INBOX backend connection, and the session (and
// the server) go on: the next commands that need that backend connect to
// it again.
func TestSessionSurvivesLostInbox(t *testing.T) {
	_, srv, conn, read := startProxy(t)
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\n")
	read()
	fmt.Fprintf(conn, "b XFOO {1+}\r\nx \x00\r\n")
	if r := read(); !strings.HasPrefix(r, "b NO") && !strings.HasPrefix(r, "b BAD") {
		t.Fatalf("a command broken mid-literal = %q, want NO or BAD", r)
	}
	for _, cmd := range []string{`c LIST () "" "*"`, "d LSUB \"\" \"*\"", "e NOOP"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		tag, _, _ := strings.Cut(cmd, " ")
		for {
			r := read()
			if strings.HasPrefix(r, tag+" ") {
				if !strings.HasPrefix(r, tag+" OK") {
					t.Errorf("%s after the INBOX backend was lost = %q, want OK", cmd, r)
				}
				break
			}
		}
	}
	_ = srv
}

// TestIdle: DONE ends IDLE on the backend; and when the backend ends IDLE
// itself, the client's next command is the proxy's to run, not sent to
// the backend as if it were DONE.
func TestIdle(t *testing.T) {
	be, _, conn, read := startProxy(t)
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\n")
	read()
	fmt.Fprintf(conn, "b IDLE\r\n")
	if r := read(); !strings.HasPrefix(r, "+") {
		t.Fatalf("IDLE = %q, want a continuation", r)
	}
	fmt.Fprintf(conn, "DONE\r\n")
	if r := read(); !strings.HasPrefix(r, "b OK") {
		t.Fatalf("IDLE after DONE = %q", r)
	}
	if got := be.got(); !slices.Contains(got, "DONE") {
		t.Errorf("the backend got %q, want DONE", got)
	}

	// Another command during IDLE ends it, then runs.
	fmt.Fprintf(conn, "b2 IDLE\r\n")
	if r := read(); !strings.HasPrefix(r, "+") {
		t.Fatalf("IDLE = %q, want a continuation", r)
	}
	fmt.Fprintf(conn, "b3 NOOP\r\n")
	for _, want := range []string{"b2 OK", "b3 OK"} {
		if r := read(); !strings.HasPrefix(r, want) {
			t.Fatalf("a NOOP during IDLE: %q, want %s", r, want)
		}
	}

	be.mu.Lock()
	be.endIdle = true
	be.mu.Unlock()
	fmt.Fprintf(conn, "c IDLE\r\n")
	if r := read(); !strings.HasPrefix(r, "+") {
		t.Fatalf("IDLE = %q, want a continuation", r)
	}
	if r := read(); !strings.HasPrefix(r, "c OK") {
		t.Fatalf("IDLE ended by the backend = %q, want c OK", r)
	}
	// The client's DONE crossing the backend's own end of IDLE is no
	// command, whichever comes first.
	for i := range 20 {
		fmt.Fprintf(conn, "x%d IDLE\r\n", i)
		if r := read(); !strings.HasPrefix(r, "+") {
			t.Fatalf("IDLE = %q, want a continuation", r)
		}
		fmt.Fprintf(conn, "DONE\r\n")
		if r := read(); !strings.HasPrefix(r, fmt.Sprintf("x%d OK", i)) {
			t.Fatalf("IDLE ended by the backend, DONE crossing = %q", r)
		}
	}
	fmt.Fprintf(conn, "d CAPABILITY\r\n")
	for {
		r := read()
		if strings.HasPrefix(r, "d ") {
			if !strings.HasPrefix(r, "d OK") {
				t.Errorf("CAPABILITY after IDLE = %q", r)
			}
			break
		}
	}
	if got := be.got(); slices.Contains(got, "d CAPABILITY") {
		t.Errorf("the backend got %q: the command after IDLE reached it", got)
	}
}

// TestBadInputReachesNoBackend: what the proxy refuses never reaches a
// backend, and a command the client breaks off in the middle of a literal
// costs the backend connection rather than reaching the backend
// completed by whatever comes next.
func TestBadInputReachesNoBackend(t *testing.T) {
	be, _, conn, read := startProxy(t, func(c *Config) { c.MaxMessage = 1 << 20 })
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\n")
	read()
	for line, want := range map[string]string{
		"b APPEND INBOX {100000000}\r\n":              "b NO [TOOBIG]",
		"c APPEND INBOX (\\Seen\x00) {3+}\r\nabc\r\n": "c BAD",
		"d SELECT \"unbalanced\r\n":                   "d BAD",
		"e APPEND INBOX {2000000+}\r\n":               "e BAD [TOOBIG]",
	} {
		fmt.Fprint(conn, line)
		if strings.HasPrefix(line, "e ") {
			fmt.Fprintf(conn, "%s\r\n", strings.Repeat("x", 2000000))
		}
		if r := read(); !strings.HasPrefix(r, want) {
			t.Errorf("%q = %q, want %s", line, r, want)
		}
		tag, _, _ := strings.Cut(line, " ")
		if slices.ContainsFunc(be.got(), func(l string) bool { return strings.HasPrefix(l, tag+" ") }) {
			t.Errorf("%q reached the backend: %q", line, be.got())
		}
	}
	fmt.Fprintf(conn, "f NOOP\r\n")
	if r := read(); !strings.HasPrefix(r, "f OK") {
		t.Errorf("NOOP after the bad input = %q", r)
	}
	// An APPEND broken off mid-literal: the backend connection goes.
	before := be.closed.Load()
	fmt.Fprintf(conn, "g APPEND INBOX {10+}\r\n12345")
	conn.(*net.TCPConn).CloseWrite()
	deadline := time.Now().Add(10 * time.Second)
	for be.closed.Load() == before {
		if time.Now().After(deadline) {
			t.Fatalf("the backend connection stayed after a client broke off mid-literal (it got %q)", be.got())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := be.got(); slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "LOGOUT") }) {
		t.Errorf("the backend got %q: its half-sent APPEND was completed", got)
	}
}

// TestIdleClient: a client that goes quiet, even in the middle of a
// command, is told BYE once the idle timeout passes.
func TestIdleClient(t *testing.T) {
	_, _, conn, read := startProxy(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\n")
	read()
	fmt.Fprintf(conn, "b NOOP")
	if r := read(); !strings.HasPrefix(r, "* BYE Idle") {
		t.Errorf("after the idle timeout: %q, want * BYE Idle for too long", r)
	}
}

// TestGroupRights: a folder shared with a group is listed for its
// members only.
func TestGroupRights(t *testing.T) {
	list := func(groups func(string) []string) string {
		_, _, conn, read := startProxy(t, func(c *Config) {
			c.Locator.(memLocator).m["team"] = locator.Entry{Name: "team", Location: "be!default", ACL: "group:staff\tlr\t"}
			c.Groups = groups
		})
		read()
		fmt.Fprintf(conn, "a LOGIN jane pw\r\nb LIST \"\" \"*\"\r\n")
		var lines []string
		for {
			r := read()
			lines = append(lines, r)
			if strings.HasPrefix(r, "b ") {
				return strings.Join(lines, "\n")
			}
		}
	}
	if got := list(func(string) []string { return []string{"group:staff"} }); !strings.Contains(got, `"Shared Folders/team"`) {
		t.Errorf("a member of group:staff lists %s, want Shared Folders/team", got)
	}
	if got := list(nil); strings.Contains(got, "team") {
		t.Errorf("a user in no group lists %s", got)
	}
}

// TestListSubscribedElsewhere: LIST (SUBSCRIBED) with a return option
// only backends answer. The INBOX's backend keeps the subscriptions and
// answers for its own mailboxes; another backend is asked without the
// SUBSCRIBED selection, and of its replies only the subscribed mailboxes
// reach the client, marked \Subscribed, with their STATUS.
func TestListSubscribedElsewhere(t *testing.T) {
	be1, be2 := startLineBackend(t), startLineBackend(t)
	const cmd = `LIST (SUBSCRIBED) "" "*" RETURN (STATUS (MESSAGES))`
	be1.replies = map[string][]string{cmd: {
		`* LIST (\Subscribed) "/" INBOX`, `* STATUS INBOX (MESSAGES 1)`,
		`* LIST (\Subscribed \NonExistent) "/" Archive`}}
	be2.replies = map[string][]string{`LIST "" ("*") RETURN (STATUS (MESSAGES))`: {
		`* LIST (\HasNoChildren) "/" Archive`, `* STATUS Archive (MESSAGES 5)`,
		`* LIST (\HasNoChildren) "/" Junk`, `* STATUS Junk (MESSAGES 7)`}}
	acl := "jane\tlrswipkxtecdan\t"
	_, _, conn, read := startProxy(t, func(c *Config) {
		c.Locator = memLocator{m: map[string]locator.Entry{
			"user.jane":         {Name: "user.jane", Location: "be1!default", ACL: acl},
			"user.jane.Archive": {Name: "user.jane.Archive", Location: "be2!default", ACL: acl},
			"user.jane.Junk":    {Name: "user.jane.Junk", Location: "be2!default", ACL: acl},
		}}
		c.BackendMap = servermap.Map{"be1": {servermap.IMAP: be1.l.Addr().String()}, "be2": {servermap.IMAP: be2.l.Addr().String()}}
	})
	read()
	fmt.Fprintf(conn, "a LOGIN jane pw\r\nb %s\r\n", cmd)
	var got []string
	for {
		line := read()
		if strings.HasPrefix(line, "b ") {
			break
		}
		if strings.HasPrefix(line, "* ") {
			got = append(got, line)
		}
	}
	want := []string{`* LIST (\Subscribed) "/" INBOX`, `* STATUS INBOX (MESSAGES 1)`,
		`* LIST (\HasNoChildren \Subscribed) "/" Archive`, `* STATUS Archive (MESSAGES 5)`}
	if !slices.Equal(got, want) {
		t.Errorf("LIST (SUBSCRIBED) across backends:\n got %q\nwant %q", got, want)
	}
}
