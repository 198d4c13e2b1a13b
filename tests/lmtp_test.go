package tests

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/roost-mail/roost/frontend"
	"github.com/roost-mail/roost/frontend/namespace"
)

// lmtpDeliver delivers msg over LMTP at addr and returns each recipient's
// status as "code enhanced-code text": the RCPT refusal, or the reply
// after the message.
func lmtpDeliver(t testing.TB, addr, from string, rcpts []string, msg string) map[string]string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = time.Minute, 5*time.Minute
	if err := c.Hello("test.example.com"); err != nil {
		t.Fatalf("LHLO: %v", err)
	}
	if err := c.Mail(from, nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	out := map[string]string{}
	var taken []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			out[r] = statusText(t, err)
			continue
		}
		taken = append(taken, r)
	}
	if len(taken) == 0 {
		c.Quit()
		return out
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatalf("writing the message: %v", err)
	}
	resp, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	if err != nil && !errors.As(err, &perRcpt) {
		t.Fatalf("end of DATA: %v", err)
	}
	for _, r := range taken {
		switch {
		case resp[r] != nil:
			out[r] = "250 " + resp[r].StatusText
		case perRcpt[r] != nil:
			out[r] = statusText(t, perRcpt[r])
		default:
			t.Fatalf("no status for %s", r)
		}
	}
	c.Quit()
	return out
}

func statusText(t testing.TB, err error) string {
	var reply *smtp.SMTPError
	if !errors.As(err, &reply) {
		t.Fatalf("not an SMTP reply: %v", err)
	}
	e := reply.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", reply.Code, e[0], e[1], e[2], reply.Message)
}

// testMessage is a message with a unique Message-ID, so that Cyrus's
// duplicate suppression keeps each test delivery.
func testMessage(subject string) string {
	return fmt.Sprintf("From: sender@example.org\r\nTo: undisclosed-recipients:;\r\nSubject: %s\r\nMessage-ID: <%s.%d@test>\r\n\r\nDelivered through the frontend.\r\n",
		subject, strings.ReplaceAll(subject, " ", "-"), time.Now().UnixNano())
}

// subjects logs in through the frontend and returns the subjects of the
// messages in mailbox.
func subjects(t testing.TB, imapAddr, user, password, mailbox string) []string {
	t.Helper()
	c := dialIMAP(t, imapAddr)
	c.ok("LOGIN " + user + " " + password)
	if slices.Contains(c.ok(`EXAMINE "`+mailbox+`"`), "* 0 EXISTS") {
		return nil
	}
	var out []string
	for _, l := range c.ok("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			out = append(out, s)
		}
	}
	c.ok("LOGOUT")
	return out
}

func wantStatus(t testing.TB, got map[string]string, rcpt, prefix string) {
	t.Helper()
	if !strings.HasPrefix(got[rcpt], prefix) {
		t.Errorf("%s: %q, want %s", rcpt, got[rcpt], prefix)
	}
}

// TestLMTPOnCyrus delivers through roost-frontend to two real Cyrus
// backends: each recipient lands in its INBOX on its own backend, once; a
// +detail lands in the folder of that name; an unknown user is refused at
// RCPT; with one backend stopped only its recipients are tempfailed; and a
// frontend whose cache never synced tempfails everything.
func TestLMTPOnCyrus(t *testing.T) {
	m := startMurder(t)
	m.be2.imapOK(t, "CREATE user.jane.Lists", "SETACL user.jane.Lists anyone p")
	waitFor(t, "the frontend to know user.jane.Lists", 30*time.Second, func() error {
		if _, ok := m.f.Cache().Lookup("user.jane.Lists"); !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	lmtp := m.f.LMTPAddr()
	got := lmtpDeliver(t, lmtp, "sender@example.org",
		[]string{"john@example.com", "jane@example.com", "JOHN@example.com", "nobody@example.com"}, testMessage("to both"))
	wantStatus(t, got, "john@example.com", "250")
	wantStatus(t, got, "jane@example.com", "250")
	wantStatus(t, got, "JOHN@example.com", "250")
	wantStatus(t, got, "nobody@example.com", "550 5.1.1")
	if s := subjects(t, m.f.IMAPAddr(), "john", "john-pw", "INBOX"); !slices.Equal(s, []string{"to both"}) {
		t.Errorf("john's INBOX holds %q, want the message once", s)
	}
	if s := subjects(t, m.f.IMAPAddr(), "jane", "jane-pw", "INBOX"); !slices.Equal(s, []string{"to both"}) {
		t.Errorf("jane's INBOX holds %q, want the message once", s)
	}

	got = lmtpDeliver(t, lmtp, "", []string{"jane+Lists@example.com"}, testMessage("to a detail"))
	wantStatus(t, got, "jane+Lists@example.com", "250")
	if s := subjects(t, m.f.IMAPAddr(), "jane", "jane-pw", "Lists"); !slices.Equal(s, []string{"to a detail"}) {
		t.Errorf("jane's Lists holds %q, want the +Lists message", s)
	}

	// Over quota, jane's backend refuses more mail; IGNOREQUOTA, passed
	// on by the frontend, gets it in all the same.
	m.be2.imapOK(t, "SETQUOTA user.jane (STORAGE 1)")
	got = lmtpDeliver(t, lmtp, "", []string{"jane@example.com"}, testMessage("fills the quota")+strings.Repeat("0123456789\r\n", 400))
	wantStatus(t, got, "jane@example.com", "250")
	got = lmtpDeliver(t, lmtp, "", []string{"jane@example.com"}, testMessage("over quota"))
	wantStatus(t, got, "jane@example.com", "452 4.2.2")
	c := dialRaw(t, lmtp, "220")
	c.send("LHLO test\r\n")
	if caps := c.expect("250"); !strings.Contains(caps, "IGNOREQUOTA") {
		t.Errorf("LHLO = %q, want IGNOREQUOTA", caps)
	}
	c.send("MAIL FROM:<>\r\nRCPT TO:<jane@example.com> IGNOREQUOTA\r\nDATA\r\n")
	c.expect("250")
	c.expect("250")
	c.expect("354")
	c.send(testMessage("ignoring the quota") + ".\r\n")
	c.expect("250")
	if s := subjects(t, m.f.IMAPAddr(), "jane", "jane-pw", "INBOX"); !slices.Contains(s, "ignoring the quota") || slices.Contains(s, "over quota") {
		t.Errorf("jane's INBOX holds %q, want the IGNOREQUOTA message and not the refused one", s)
	}
	m.be2.imapOK(t, "SETQUOTA user.jane ()")

	// A shared folder john may post to, on backend1.
	m.be1.imapOK(t, "CREATE shared", "SETACL shared anyone lrp")
	got = lmtpDeliver(t, lmtp, "", []string{"+shared@example.com"}, testMessage("to a shared folder"))
	wantStatus(t, got, "+shared@example.com", "250")

	// backend2 stopped: jane's mail waits, john's goes.
	m.be2.stop()
	got = lmtpDeliver(t, lmtp, "", []string{"john@example.com", "jane@example.com"}, testMessage("one backend down"))
	wantStatus(t, got, "john@example.com", "250")
	wantStatus(t, got, "jane@example.com", "451 4.4.1")
	if s := subjects(t, m.f.IMAPAddr(), "john", "john-pw", "INBOX"); !slices.Contains(s, "one backend down") {
		t.Errorf("john's INBOX holds %q, want the message sent while backend2 was down", s)
	}
	// swaks, a real client, over a Unix socket of a second frontend's:
	// one status per recipient after the message.
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	ns := namespace.DefaultConfig()
	ns.UnixHierarchySep = false // as the harness's backends
	startSyncedFrontend(t, frontend.Config{Endpoints: []string{m.nodes[0].grpcAddr}, DataDir: t.TempDir(),
		LMTPAddr: sock, BackendMap: backendMap(m.be1, m.be2), ProxyUser: cyrusAdmin,
		ProxyPasswordFile: writeSecret(t, cyrusPassword), Namespace: ns, Logger: testLogger(t)})
	out, err := exec.Command("swaks", "--protocol", "LMTP", "--socket", sock, "--from", "sender@example.org",
		"--to", "john@example.com,jane@example.com", "--header", "Subject: swaks").CombinedOutput()
	if !strings.Contains(string(out), "<-  250 2.0.0 <john@example.com>") || !strings.Contains(string(out), "<** 451 4.4.1 <jane@example.com>") {
		t.Errorf("swaks over the Unix socket (%v):\n%s\nwant 250 for john and 451 4.4.1 for jane", err, out)
	}
	// A second frontend on the same socket is an operator's mistake: it
	// must not take the socket from the one serving it.
	if _, err := frontend.Start(frontend.Config{Endpoints: []string{m.nodes[0].grpcAddr}, DataDir: t.TempDir(),
		LMTPAddr: sock, BackendMap: backendMap(m.be1, m.be2), Logger: testLogger(t)}); err == nil || !strings.Contains(err.Error(), "already served") {
		t.Errorf("a second frontend on %s started: %v, want it refused", sock, err)
	}

	// A frontend that has never reached the cluster knows nobody, and
	// says so temporarily.
	lost, err := frontend.Start(frontend.Config{Endpoints: []string{freePort(t)}, DataDir: t.TempDir(),
		LMTPAddr: "127.0.0.1:0", BackendMap: backendMap(m.be1, m.be2), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lost.Close() })
	got = lmtpDeliver(t, lost.LMTPAddr(), "", []string{"john@example.com", "nobody@example.com"}, testMessage("unsynced"))
	wantStatus(t, got, "john@example.com", "451 4.4.3")
	wantStatus(t, got, "nobody@example.com", "451 4.4.3")
}

// rawConn is an LMTP or POP3 conversation line by line, for input no
// proper client sends.
type rawConn struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t testing.TB, addr, greeting string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
	c.expect(greeting)
	return c
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// expect reads one reply, all its lines, and fails unless it starts with
// prefix.
func (c *rawConn) expect(prefix string) string {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	var lines []string
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading a reply after %q: %v", lines, err)
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
		if len(l) < 4 || l[3] != '-' {
			break
		}
	}
	r := strings.Join(lines, "\n")
	if !strings.HasPrefix(r, prefix) {
		c.t.Fatalf("reply %q, want %s", r, prefix)
	}
	return r
}

// closed reports whether the server ends the connection within d.
func (c *rawConn) closed(d time.Duration) bool {
	c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := c.br.ReadString('\n'); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// TestLMTPBadInput sends what broken or hostile clients send, in front of
// real Cyrus backends: each gets a clear reply, and nothing reaches a
// mailbox half-way.
func TestLMTPBadInput(t *testing.T) {
	m := startMurderWith(t, func(c *frontend.Config) { c.LMTPIdleTimeout = 2 * time.Second })
	addr := m.f.LMTPAddr()
	c := dialRaw(t, addr, "220")
	c.send("LHLO test\r\n")
	c.expect("250")
	c.send("RCPT TO:<john@example.com>\r\n")
	c.expect("502 5.5.1")
	c.send("DATA\r\n")
	c.expect("502 5.5.1")
	// Too many recipients: the ones beyond the limit are refused, the
	// others stay.
	c.send("MAIL FROM:<>\r\n" + strings.Repeat("RCPT TO:<john@example.com>\r\n", 1001))
	c.expect("250")
	for range 1000 {
		c.expect("250")
	}
	c.expect("452 4.5.3")
	// A bare LF: every recipient is refused, nobody gets the message.
	c.send("DATA\r\n")
	c.expect("354")
	c.send("Subject: bare LF\r\n\r\none\ntwo\r\n.\r\n")
	for range 1000 {
		c.expect("554 5.6.0")
	}
	// A line longer than Cyrus's lmtpd reads in one piece, with a dot
	// after the piece: lmtpd would end the message there and take the
	// rest for commands. Refused; jane gets nothing.
	c.send("MAIL FROM:<>\r\nRCPT TO:<john@example.com>\r\nDATA\r\n")
	c.expect("250")
	c.expect("250")
	c.expect("354")
	c.send("Subject: long\r\n\r\n" + strings.Repeat("A", 8189) + ".\r\nMAIL FROM:<>\r\nRCPT TO:<jane@example.com>\r\nDATA\r\nforged\r\n.\r\n")
	c.expect("554 5.6.0")
	// The connection still works.
	c.send("MAIL FROM:<>\r\nRCPT TO:<john@example.com>\r\nDATA\r\n")
	c.expect("250")
	c.expect("250")
	c.expect("354")
	c.send(testMessage("after bad input") + ".\r\n")
	c.expect("250")
	// A line of a megabyte: a reply, and the connection ends.
	c.send("NOOP " + strings.Repeat("x", 1<<20) + "\r\n")
	c.expect("500")
	if !c.closed(10 * time.Second) {
		t.Error("the connection stayed open after a 1 MB line")
	}
	// A DATA that never ends: the frontend gives up on the silent client
	// and delivers nothing of it, to either backend.
	c = dialRaw(t, addr, "220")
	c.send("LHLO test\r\nMAIL FROM:<>\r\nRCPT TO:<john@example.com>\r\nRCPT TO:<jane@example.com>\r\nDATA\r\n")
	for _, want := range []string{"250", "250", "250", "250", "354"} {
		c.expect(want)
	}
	c.send("Subject: never ends\r\n\r\nand on\r\n")
	if !c.closed(30 * time.Second) {
		t.Error("the frontend kept a silent connection in DATA open")
	}
	if s := subjects(t, m.f.IMAPAddr(), "john", "john-pw", "INBOX"); !slices.Equal(s, []string{"after bad input"}) {
		t.Errorf("john's INBOX holds %q, want only the message after the bad input", s)
	}
	if s := subjects(t, m.f.IMAPAddr(), "jane", "jane-pw", "INBOX"); len(s) != 0 {
		t.Errorf("jane's INBOX holds %q, want nothing", s)
	}
}

// TestLMTPLargeMessageFlatMemory delivers a 50 MB message to three
// backends through roost-frontend running as its own process: it lands
// whole in every INBOX, and the frontend's peak memory hardly moves.
func TestLMTPLargeMessageFlatMemory(t *testing.T) {
	m := startMurder(t)
	be3 := startAddressedBackend(t, "backend3", m.nodes[0].mupdateAddr)
	be3.addUser(t, "ann", "ann-pw")
	be3.imapOK(t, "CREATE user.ann")
	fp := startFrontendProcess(t, m, be3)
	rcpts := []string{"john@example.com", "jane@example.com", "ann@example.com"}
	// A first delivery warms the process up: buffers, connections.
	got := lmtpDeliver(t, fp.lmtpAddr, "", rcpts, testMessage("warm-up"))
	for _, r := range rcpts {
		wantStatus(t, got, r, "250")
	}
	before := fp.peakRSS(t)
	var b strings.Builder
	b.WriteString(testMessage("fifty megabytes"))
	line := strings.Repeat("0123456789", 7) + "\r\n"
	for b.Len() < 50<<20 {
		b.WriteString(line)
	}
	big := b.String()
	got = lmtpDeliver(t, fp.lmtpAddr, "", rcpts, big)
	for _, r := range rcpts {
		wantStatus(t, got, r, "250")
	}
	after := fp.peakRSS(t)
	t.Logf("roost-frontend's peak RSS: %.1f MiB before the 50 MB message, %.1f MiB after", float64(before)/(1<<20), float64(after)/(1<<20))
	if after-before > 16<<20 {
		t.Errorf("peak RSS grew by %.1f MiB for a 50 MB message, want it flat (under 16 MiB)", float64(after-before)/(1<<20))
	}
	for _, u := range [][2]string{{"john", "john-pw"}, {"jane", "jane-pw"}, {"ann", "ann-pw"}} {
		c := dialIMAP(t, fp.imapAddr)
		c.ok("LOGIN " + u[0] + " " + u[1])
		c.ok("EXAMINE INBOX")
		// The backend adds Return-Path and Received; the text ends as sent.
		var size int
		fmt.Sscanf(strings.Join(c.ok("FETCH 2 (RFC822.SIZE)"), ""), "* 2 FETCH (RFC822.SIZE %d)", &size)
		if size < len(big) || size > len(big)+1024 {
			t.Errorf("%s's copy is %d bytes, want the %d sent and a few headers", u[0], size, len(big))
		}
		text := len(big) - strings.Index(big, "\r\n\r\n") - 4
		tail := strings.Join(c.ok(fmt.Sprintf("FETCH 2 (BODY.PEEK[TEXT]<%d.%d>)", text-len(line), len(line))), "\n")
		if !strings.Contains(tail, strings.TrimSpace(line)) {
			t.Errorf("%s's copy ends %q, want the last line sent", u[0], tail)
		}
	}
}

// writeSecret writes a password file for the test.
func writeSecret(t testing.TB, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLMTPWithoutTheCluster stops every node under a running frontend:
// mail for known users still goes while the cache is fresh, a user the
// cache does not know is tempfailed (the cluster cannot be asked), and
// once the cache has been out of touch for --max-staleness everything is
// tempfailed. Nothing is bounced.
func TestLMTPWithoutTheCluster(t *testing.T) {
	m := startMurderWith(t, func(c *frontend.Config) { c.MaxStaleness = 3 * time.Second })
	lmtp := m.f.LMTPAddr()
	for _, n := range m.nodes {
		n.stop(t)
	}
	got := lmtpDeliver(t, lmtp, "", []string{"john@example.com", "nobody@example.com"}, testMessage("cluster gone"))
	wantStatus(t, got, "john@example.com", "250")
	wantStatus(t, got, "nobody@example.com", "451 4.4.3")
	waitFor(t, "the frontend to tempfail everything", 30*time.Second, func() error {
		got := lmtpDeliver(t, lmtp, "", []string{"john@example.com"}, testMessage("stale"))
		if !strings.HasPrefix(got["john@example.com"], "451 4.4.3") {
			return fmt.Errorf("john: %s", got["john@example.com"])
		}
		return nil
	})
}
