package mupdatecompat

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/roost-mail/roost/raftfsm/auth"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
)

// testServer serves MUPDATE over a real single-node store on loopback.
func testServer(t *testing.T, users string) (string, *raftfsm.Store) {
	t.Helper()
	return testServerNamed(t, users, "")
}

// testServerNamed is testServer with the name the banner shows.
func testServerNamed(t *testing.T, users, name string, opts ...func(*Config)) (string, *raftfsm.Store) {
	t.Helper()
	st := testStore(t)
	u, err := auth.ParseUsers(strings.NewReader(users))
	if err != nil {
		t.Fatal(err)
	}
	fwd := grpcserver.NewForwarder(st, nil)
	t.Cleanup(func() { fwd.Close() })
	cfg := Config{FSM: st.FSM(), Cluster: fwd, Users: u, ServerName: name, FailedAuthDelay: time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	s := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return l.Addr().String(), st
}

// testStore opens a single-node store on loopback that leads and, as
// roostd's nodes do, has declared the log format it reads.
func testStore(t *testing.T) *raftfsm.Store {
	t.Helper()
	st, err := raftfsm.Open(raftfsm.Config{NodeID: "m1", Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !st.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	if err := st.SetMember(t.Context(), raftfsm.Member{ID: "m1", GRPCAddr: "127.0.0.1:1", LogFormat: raftfsm.LogFormat}); err != nil {
		t.Fatal(err)
	}
	return st
}

// converse sends each C: chunk and checks that the S: lines that follow
// arrive exactly, CRLF-terminated. "C: <closed>" half-closes the
// connection; "S: <closed>" expects the server to close it, allowing only
// a LOGOUT reply first (Cyrus clients close right after sending LOGOUT,
// so captures never show that reply).
func converse(t *testing.T, addr string, script []string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(nc)
	for i, step := range script {
		switch dir, text := step[:3], step[3:]; {
		case dir == "C: " && text == "<closed>":
			nc.(*net.TCPConn).CloseWrite()
		case dir == "C: ":
			if _, err := nc.Write([]byte(text)); err != nil {
				t.Fatalf("step %d: write: %v", i, err)
			}
		case text == "<closed>":
			b, err := br.ReadString('\n')
			if err == nil && strings.HasSuffix(b, " OK \"bye-bye\"\r\n") {
				b, err = br.ReadString('\n')
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("step %d: server sent %q (%v), want it to close", i, b, err)
			}
		default:
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("step %d: read: %v (want %q)", i, err, text)
			}
			if line != text+"\r\n" {
				t.Fatalf("step %d: server said %q, want %q CRLF", i, line, text)
			}
		}
	}
}

const testUsers = "admin:{PLAIN}secret:admin\nbe1:{PLAIN}pw1:backend\nfe:{PLAIN}pwf:frontend\n"

var banner = []string{
	`S: * AUTH "PLAIN" "LOGIN"`,
	`S: * PARTIAL-UPDATE`,
	`S: * OK MUPDATE "roost" "Roost" "1" "(master)"`,
}

func TestBackendSession(t *testing.T) {
	addr, _ := testServer(t, testUsers)
	script := append(append([]string{}, banner...),
		"C: X1 NOOP\r\n", `S: X1 BAD "Please login first"`,
		"C: A01 AUTHENTICATE \"PLAIN\" {12+}\r\nAGJlMQBwdzE=\r\n", `S: A01 OK "Authenticated"`,
		"C: A02 AUTHENTICATE \"PLAIN\"\r\n", `S: A02 BAD "already authenticated"`,
		"C: X0 RESERVE {9+}\r\nuser.wire {11+}\r\nbe1!default\r\n", `S: X0 OK "done"`,
		"C: X1 ACTIVATE {9+}\r\nuser.wire {11+}\r\nbe1!default {20+}\r\nwire\tlrswipkxtecdan\t\r\n", `S: X1 OK "done"`,
		"C: X2 FIND {9+}\r\nuser.wire\r\n", "S: X2 MAILBOX \"user.wire\" \"be1!default\" \"wire\tlrswipkxtecdan\t\"", `S: X2 OK "Search completed"`,
		"C: X3 RESERVE \"user.wire\" \"be2!default\"\r\n", `S: X3 NO "permission denied: the mailbox is located on another server"`,
		"C: X4 RESERVE \"user.wire.Sent\" \"be1!default\"\r\n", `S: X4 OK "done"`,
		"C: X5 LIST \"be1!\"\r\n",
		"S: X5 MAILBOX \"user.wire\" \"be1!default\" \"wire\tlrswipkxtecdan\t\"",
		`S: X5 RESERVE "user.wire.Sent" "be1!default"`,
		`S: X5 OK "list complete"`,
		"C: X6 DELETE \"user.nothere\"\r\n", `S: X6 OK "done"`,
		"C: X7 DEACTIVATE \"user.nothere\" \"be1!x\"\r\n", `S: X7 NO "mailbox doesn't exist"`,
		"C: X8 FOO\r\n", `S: X8 BAD "Unrecognized command"`,
		"C: X9 RESERVE \"user.a\"\r\n", `S: X9 BAD "Missing arguments"`,
		"C: Y1 FIND \"unterminated\r\n", `S: Y1 BAD "Unterminated quoted string"`,
		"C: Y2 find \"user.none\"\r\n", `S: Y2 OK "Search completed"`,
		"C: Q01 LOGOUT\r\n", `S: Q01 OK "bye-bye"`,
	)
	converse(t, addr, script)
}

// TestBackendCannotRaceAMove: the node's copy of the database may lag
// behind the leader's (on a follower), or a move may commit between the
// check against it and the write. The write goes out confined to the
// backend's servers, so the state machine refuses it as it applies: here
// the node's copy still shows user.jane on be1 when it has moved to be2.
func TestBackendCannotRaceAMove(t *testing.T) {
	stale := testStore(t)
	mustApply(t, stale, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.jane", Location: "be1!p"})
	addr, st := testServerNamed(t, testUsers, "", func(c *Config) { c.FSM = stale.FSM() })
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.jane", Location: "be2!p", ACL: "jane\tlrs\t"})
	converse(t, addr, append(append([]string{}, banner...),
		"C: A01 AUTHENTICATE \"PLAIN\" {12+}\r\nAGJlMQBwdzE=\r\n", `S: A01 OK "Authenticated"`,
		"C: X1 DELETE \"user.jane\"\r\n", `S: X1 NO "permission denied: the mailbox is located on another server"`,
		"C: X2 ACTIVATE \"user.jane\" \"be1!p\" \"\"\r\n", `S: X2 NO "permission denied: the mailbox is located on another server"`,
		"C: X3 DEACTIVATE \"user.jane\" \"be1!p\"\r\n", `S: X3 NO "permission denied: the mailbox is located on another server"`,
		"C: X4 ACTIVATE \"user.new\" \"be1!p\" \"\"\r\n", `S: X4 OK "done"`,
	))
	want := raftfsm.Mailbox{Name: "user.jane", State: raftfsm.StateActive, Location: "be2!p", ACL: "jane\tlrs\t"}
	if m, _ := st.FSM().Get("user.jane"); m == nil || m.State != want.State || m.Location != want.Location || m.ACL != want.ACL {
		t.Errorf("user.jane = %+v, want %+v still", m, want)
	}
}

// TestBackendWritesWhileClusterCannotConfine: while a member has not
// declared that it reads confined operations (a rolling upgrade, a node
// that has just joined), the cluster refuses them and backends still
// write, sent again unconfined and checked against the node's copy alone.
func TestBackendWritesWhileClusterCannotConfine(t *testing.T) {
	addr, st := testServer(t, testUsers)
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.other", Location: "be2!p"})
	if err := st.SetMember(t.Context(), raftfsm.Member{ID: "m1", GRPCAddr: "127.0.0.1:1", LogFormat: raftfsm.LogFormatOps}); err != nil {
		t.Fatal(err)
	}
	if st.CanConfine() {
		t.Fatal("CanConfine() = true with a member at log format 2")
	}
	converse(t, addr, append(append([]string{}, banner...),
		"C: A01 AUTHENTICATE \"PLAIN\" {12+}\r\nAGJlMQBwdzE=\r\n", `S: A01 OK "Authenticated"`,
		"C: X1 ACTIVATE \"user.jane\" \"be1!p\" \"\"\r\n", `S: X1 OK "done"`,
		"C: X2 DELETE \"user.jane\"\r\n", `S: X2 OK "done"`,
		"C: X3 DELETE \"user.other\"\r\n", `S: X3 NO "permission denied: the mailbox is located on another server"`,
	))
}

// TestBackendServerList: a backend identity whose users-file role lists
// servers (as when all backends share one mupdate_authname) writes for
// those servers only.
func TestBackendServerList(t *testing.T) {
	addr, st := testServer(t, testUsers+"murder:{PLAIN}pwm:backend=be1,be2\n")
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.other", Location: "be3!p"})
	converse(t, addr, append(append([]string{}, banner...),
		"C: A01 AUTHENTICATE \"PLAIN\" \"AG11cmRlcgBwd20=\"\r\n", `S: A01 OK "Authenticated"`,
		"C: X1 ACTIVATE \"user.one\" \"be1!p\" \"\"\r\n", `S: X1 OK "done"`,
		"C: X2 ACTIVATE \"user.two\" \"be2!p\" \"\"\r\n", `S: X2 OK "done"`,
		"C: X3 ACTIVATE \"user.three\" \"be3!p\" \"\"\r\n", `S: X3 NO "permission denied: the mailbox is located on another server"`,
		"C: X4 RESERVE \"user.four\" \"murder!p\"\r\n", `S: X4 NO "permission denied: the mailbox is located on another server"`,
		"C: X5 DELETE \"user.other\"\r\n", `S: X5 NO "permission denied: the mailbox is located on another server"`,
		"C: X6 DELETE \"user.two\"\r\n", `S: X6 OK "done"`,
		// An entry on another server cannot be taken over.
		"C: X7 ACTIVATE \"user.other\" \"be1!p\" \"\"\r\n", `S: X7 NO "permission denied: the mailbox is located on another server"`,
		"C: X8 DEACTIVATE \"user.other\" \"be2!p\"\r\n", `S: X8 NO "permission denied: the mailbox is located on another server"`,
	))
	if m, _ := st.FSM().Get("user.other"); m == nil || m.Location != "be3!p" || m.State != raftfsm.StateActive {
		t.Errorf("user.other = %+v, want ACTIVE on be3!p still", m)
	}
	for name, want := range map[string]bool{"user.one": true, "user.two": false, "user.three": false, "user.four": false, "user.other": true} {
		if m, _ := st.FSM().Get(name); (m != nil) != want {
			t.Errorf("%s present = %v, want %v", name, m != nil, want)
		}
	}
}

func TestAuthentication(t *testing.T) {
	addr, st := testServer(t, testUsers)
	// LOGIN with bare base64 challenges, as Cyrus clients do it.
	converse(t, addr, append(append([]string{}, banner...),
		"C: A01 AUTHENTICATE \"LOGIN\"\r\n", "S: VXNlcm5hbWU6",
		"C: YWRtaW4=\r\n", "S: UGFzc3dvcmQ6",
		"C: c2VjcmV0\r\n", `S: A01 OK "Authenticated"`,
		"C: X1 ACTIVATE \"user.any\" \"be7!p\" \"\"\r\n", `S: X1 OK "done"`,
	))
	if m, _ := st.FSM().Get("user.any"); m == nil || m.Location != "be7!p" {
		t.Errorf("admin ACTIVATE not applied: %+v", m)
	}
	converse(t, addr, append(append([]string{}, banner...),
		"C: A01 AUTHENTICATE \"PLAIN\" \"AGFkbWluAHdyb25n\"\r\n", `S: A01 NO "authentication failed"`,
		"C: A02 AUTHENTICATE \"PLAIN\"\r\n", "S: ",
		"C: *\r\n", `S: A02 NO "Client canceled authentication"`,
		"C: A03 AUTHENTICATE \"PLAIN\" {12+}\r\nAGZlAHB3Zg==\r\n", `S: A03 OK "Authenticated"`,
		"C: X1 DELETE \"user.any\"\r\n", `S: X1 NO "permission denied: this identity may only read"`,
		"C: X2 FIND \"user.any\"\r\n", `S: X2 MAILBOX "user.any" "be7!p" ""`, `S: X2 OK "Search completed"`,
	))
	if m, _ := st.FSM().Get("user.any"); m == nil {
		t.Error("a frontend identity deleted a mailbox")
	}
}

// mustApply applies operations through st.
func mustApply(t *testing.T, st *raftfsm.Store, ops ...raftfsm.Op) {
	t.Helper()
	resp, err := st.Apply(t.Context(), ops, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if r.Err != nil {
			t.Fatalf("operation %d (%s %q): %v", i, ops[i].Kind, ops[i].Name, r.Err)
		}
	}
}

// dial connects to addr, with a deadline for the whole connection.
func dial(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(d))
	return nc
}

// dialLines connects to addr and reads the banner.
func dialLines(t *testing.T, addr string) (net.Conn, lineReader) {
	t.Helper()
	nc := dial(t, addr, 20*time.Second)
	r := lineReader{t, bufio.NewReader(nc)}
	for _, b := range banner {
		r.expect(b[3:])
	}
	return nc, r
}

func TestUpdateStream(t *testing.T) {
	addr, st := testServer(t, testUsers)
	fsm := st.FSM()
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.b", Location: "be1!p", ACL: "b\tlrs\t"},
		raftfsm.Op{Kind: raftfsm.OpReserve, Name: "user.a.x", Location: "be2!p"},
		raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.a", Location: "be2!p"})
	nc, r := dialLines(t, addr)
	br, expect := r.br, r.expect
	nc.Write([]byte("A01 AUTHENTICATE \"PLAIN\" \"AGZlAHB3Zg==\"\r\nU01 UPDATE\r\n"))
	expect(`A01 OK "Authenticated"`)
	// The dump, in Cyrus order: "user.a" < "user.a.x" < "user.b".
	expect(`U01 MAILBOX "user.a" "be2!p" ""`)
	expect(`U01 RESERVE "user.a.x" "be2!p"`)
	expect("U01 MAILBOX \"user.b\" \"be1!p\" \"b\tlrs\t\"")
	expect(`U01 OK "streaming starts"`)
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.c", Location: "be1!p"})
	expect(`U01 MAILBOX "user.c" "be1!p" ""`)
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpDelete, Name: "user.a.x"})
	nc.Write([]byte("N1 NOOP\r\nX1 FIND \"user.a\"\r\n"))
	expect(`U01 DELETE "user.a.x"`)
	expect(`N1 OK "Noop done"`)
	expect(`X1 BAD "not legal when streaming"`)
	if n := fsm.Watchers(); n != 1 {
		t.Errorf("%d watchers during the stream, want 1", n)
	}
	nc.Write([]byte("Q01 LOGOUT\r\n"))
	expect(`Q01 OK "bye-bye"`)
	if _, err := br.ReadString('\n'); err == nil {
		t.Error("connection still open after LOGOUT")
	}
}

// TestPartialUpdate: UPDATE with hosts dumps and streams only entries on
// those servers, and, as Cyrus's master does, a change whose entry was on
// one of them before it, so a subscriber hears of a mailbox moving away.
func TestPartialUpdate(t *testing.T) {
	addr, st := testServer(t, testUsers)
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.a", Location: "be1!p"},
		raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.b", Location: "be2!p"},
		raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.c", Location: "be10!p"},
		raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.d", Location: "be3!p"})
	nc, r := dialLines(t, addr)
	expect := r.expect
	nc.Write([]byte("A01 AUTHENTICATE \"PLAIN\" \"AGZlAHB3Zg==\"\r\nU01 UPDATE \"be1\" \"be2\"\r\n"))
	expect(`A01 OK "Authenticated"`)
	// Whole server names: be10 is not be1.
	expect(`U01 MAILBOX "user.a" "be1!p" ""`)
	expect(`U01 MAILBOX "user.b" "be2!p" ""`)
	expect(`U01 OK "streaming starts"`)
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.e", Location: "be3!p"}) // not sent
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.a", Location: "be3!p"}) // moved away: sent
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.d", Location: "be2!p"}) // moved here: sent
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpDelete, Name: "user.c"})                      // not sent
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpDelete, Name: "user.b"})                      // sent
	expect(`U01 MAILBOX "user.a" "be3!p" ""`)
	expect(`U01 MAILBOX "user.d" "be2!p" ""`)
	expect(`U01 DELETE "user.b"`)
	nc.Write([]byte("N1 NOOP\r\n"))
	expect(`N1 OK "Noop done"`)
}

func TestClient(t *testing.T) {
	addr, st := testServer(t, testUsers)
	mustApply(t, st, raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.c", Location: "be1!p", ACL: "c\tlrs\t"})
	c, err := Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Capabilities["AUTH"]; strings.Join(got, " ") != "PLAIN LOGIN" {
		t.Errorf("AUTH capability = %q, want PLAIN LOGIN", got)
	}
	if _, err := c.Find("user.c"); err == nil {
		t.Error("Find before Authenticate succeeded")
	}
	if err := c.Authenticate("fe", "pwf"); err != nil {
		t.Fatal(err)
	}
	m, err := c.Find("user.c")
	if err != nil || m == nil || m.Location != "be1!p" || m.ACL != "c\tlrs\t" || m.State != raftfsm.StateActive {
		t.Errorf("Find(user.c) = %+v, %v", m, err)
	}
	if m, err := c.Find("user.none"); err != nil || m != nil {
		t.Errorf("Find(user.none) = %+v, %v, want nil, nil", m, err)
	}
	// Close from two goroutines at once, as roostctl import --follow's
	// interrupt and its deferred Close do: one logs out, neither races.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
}

// TestMaxConns: past the cap a connection gets Cyrus's BYE and is closed;
// once one closes, the next is served.
func TestMaxConns(t *testing.T) {
	addr, _ := testServerNamed(t, testUsers, "", func(c *Config) { c.MaxConns = 2 })
	greet := func() (net.Conn, string) {
		t.Helper()
		nc := dial(t, addr, 20*time.Second)
		line, _ := bufio.NewReader(nc).ReadString('\n')
		return nc, strings.TrimRight(line, "\r\n")
	}
	first, l1 := greet()
	second, l2 := greet()
	defer second.Close()
	if l1 != banner[0][3:] || l2 != banner[0][3:] {
		t.Fatalf("greetings %q, %q, want %q", l1, l2, banner[0][3:])
	}
	third, l3 := greet()
	third.Close()
	if l3 != `* BYE "Server Unable"` {
		t.Errorf("third connection got %q, want the BYE", l3)
	}
	first.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, l := greet()
		nc.Close()
		if l == banner[0][3:] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one closed: %q", l)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestSlowReaderKeepsStream: a dump that takes longer than
// StreamWriteTimeout to read is fine as long as the client keeps reading
// (each write has its own deadline), and a client that stops reading is
// cut off.
func TestSlowReaderKeepsStream(t *testing.T) {
	addr, st := testServerNamed(t, testUsers, "", func(c *Config) { c.StreamWriteTimeout = 300 * time.Millisecond })
	acl := "anyone\t" + strings.Repeat("l", 192) + "\t"
	const n = 60_000 // about 15 MB of dump, more than the sockets buffer
	for i := 0; i < n; i += 4000 {
		var ops []raftfsm.Op
		for j := i; j < i+4000; j++ {
			ops = append(ops, raftfsm.Op{Kind: raftfsm.OpActivate, Name: fmt.Sprintf("user.u%06d", j), Location: "be1!p", ACL: acl})
		}
		mustApply(t, st, ops...)
	}
	dump := func(read func(br *bufio.Reader) error) error {
		nc := dial(t, addr, 60*time.Second)
		defer nc.Close()
		nc.Write([]byte("A01 AUTHENTICATE \"PLAIN\" \"AGZlAHB3Zg==\"\r\nU01 UPDATE\r\n"))
		return read(bufio.NewReaderSize(nc, 4<<10))
	}
	start := time.Now()
	err := dump(func(br *bufio.Reader) error {
		for mailboxes := 0; ; {
			line, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("after %d mailboxes: %w", mailboxes, err)
			}
			if strings.HasPrefix(line, "U01 MAILBOX") {
				if mailboxes++; mailboxes%200 == 0 {
					time.Sleep(5 * time.Millisecond) // a slow client, not synchronisation
				}
			}
			if strings.HasPrefix(line, "U01 OK") {
				if mailboxes != n {
					return fmt.Errorf("dump of %d mailboxes, want %d", mailboxes, n)
				}
				return nil
			}
		}
	})
	if err != nil {
		t.Fatalf("slow but steady reader: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("the dump took only %v; the test did not outlast StreamWriteTimeout", d)
	}
	// A client that reads nothing is disconnected: its stream starts,
	// then ends (once the first client's stream is gone).
	waitWatchers(t, st, 0)
	err = dump(func(br *bufio.Reader) error {
		deadline := time.Now().Add(30 * time.Second)
		for started := false; time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
			w := st.FSM().Watchers()
			if started && w == 0 {
				return nil
			}
			started = started || w > 0
		}
		return fmt.Errorf("no stream to a client that reads nothing, or still streaming to it")
	})
	if err != nil {
		t.Error(err)
	}
}

// waitWatchers waits until st has n change watchers.
func waitWatchers(t *testing.T, st *raftfsm.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.FSM().Watchers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d watchers, want %d", st.FSM().Watchers(), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestLongSASLResponse: a SASL response longer than MaxLine is refused
// whole; none of it is read as commands.
func TestLongSASLResponse(t *testing.T) {
	addr, _ := testServerNamed(t, testUsers, "", func(c *Config) { c.MaxLine = 64 })
	converse(t, addr, append(append([]string{}, banner...),
		"C: A01 AUTHENTICATE \"LOGIN\"\r\n", "S: VXNlcm5hbWU6",
		"C: "+strings.Repeat("A", 100)+" X9 LOGOUT\r\nX1 NOOP\r\n",
		`S: A01 NO "Error reading client response"`,
		`S: X1 BAD "Please login first"`,
	))
}

// TestStreamWanted: the UPDATE filter matches whole server names, and the
// missing side of a creation (no former location) matches no filter, not
// even an empty server name.
func TestStreamWanted(t *testing.T) {
	tests := []struct {
		hosts map[string]bool
		loc   string
		want  bool
	}{
		{nil, "be1!default", true},
		{nil, "", false},
		{map[string]bool{"be1": true}, "be1!default", true},
		{map[string]bool{"be1": true}, "be10!default", false},
		{map[string]bool{"be1": true}, "be1", true},
		{map[string]bool{"": true}, "", false},
	}
	for _, tt := range tests {
		if got := (&stream{hosts: tt.hosts}).wanted(tt.loc); got != tt.want {
			t.Errorf("wanted(%q) with hosts %v = %v, want %v", tt.loc, tt.hosts, got, tt.want)
		}
	}
}
