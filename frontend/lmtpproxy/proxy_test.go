package lmtpproxy

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/frontend/locator"
)

const message = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"

// transaction sends one pipelined transaction and returns the RCPT
// replies and, when any was taken, the per-recipient replies after DATA.
func (lc *lmtpConn) transaction(from string, rcpts []string, body string) (rcptReplies, dataReplies []string) {
	lc.t.Helper()
	lines := []string{"MAIL FROM:<" + from + ">"}
	for _, r := range rcpts {
		lines = append(lines, "RCPT TO:<"+r+">")
	}
	lc.send(lines...)
	lc.expect("250")
	ok := 0
	for range rcpts {
		r := lc.reply()
		rcptReplies = append(rcptReplies, r)
		if strings.HasPrefix(r, "250") {
			ok++
		}
	}
	if ok == 0 {
		lc.send("RSET")
		lc.expect("250")
		return rcptReplies, nil
	}
	lc.send("DATA")
	lc.expect("354")
	lc.send(strings.TrimSuffix(body, "\r\n"), ".")
	for range ok {
		dataReplies = append(dataReplies, lc.reply())
	}
	return rcptReplies, dataReplies
}

func TestDeliverAcrossBackends(t *testing.T) {
	be1, be2 := startBackend(t), startBackend(t)
	loc := newLocator(user("john", "be1"), user("jane", "be2"), user("bob", "be1"))
	_, addr := startProxy(t, loc, nil, be1, be2)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta.example.com")
	caps := lc.expect("250")
	for _, want := range []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE", "IGNOREQUOTA"} {
		if !strings.Contains(caps, "250-"+want) && !strings.Contains(caps, "250 "+want) {
			t.Errorf("LHLO reply %q lacks %s", caps, want)
		}
	}
	rr, dr := lc.transaction("sender@example.com", []string{"john@example.com", "jane@example.com", "bob@example.com", "john@example.com"}, message)
	for i, r := range rr {
		if !strings.HasPrefix(r, "250") {
			t.Errorf("RCPT %d: %q, want 250", i, r)
		}
	}
	if len(dr) != 4 {
		t.Fatalf("DATA replies %q, want 4", dr)
	}
	for i, r := range dr {
		if !strings.HasPrefix(r, "250") {
			t.Errorf("DATA reply %d: %q, want 250", i, r)
		}
	}
	got1, got2 := be1.got(), be2.got()
	if len(got1) != 2 || len(got2) != 1 {
		t.Fatalf("be1 got %d deliveries, be2 %d; want 2 (john once, bob) and 1", len(got1), len(got2))
	}
	for _, d := range append(got1, got2...) {
		if d.body != message || d.from != "sender@example.com" || d.authUser != "proxy" {
			t.Errorf("delivery %+v, want the message from sender@example.com, logged in as proxy", d)
		}
	}
	if got2[0].rcpt != "jane@example.com" {
		t.Errorf("be2 got %q, want jane@example.com", got2[0].rcpt)
	}
	// The same connection delivers again, to one backend: the message is
	// streamed and the backend connection kept from before.
	_, dr = lc.transaction("", []string{"john@example.com"}, message)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "250") {
		t.Fatalf("second delivery: %q, want one 250", dr)
	}
	if n := be1.conns.Load(); n != 1 {
		t.Errorf("be1 had %d connections for two deliveries, want 1 kept", n)
	}
}

func TestRecipientChecks(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"),
		locator.Entry{Name: "shared.news", Location: "be1!default", ACL: "anyone\tlrsp\t"},
		locator.Entry{Name: "shared.board", Location: "be1!default", ACL: "anyone\tlrs\tjohn@example.com\tlrsp\t"},
		locator.Entry{Name: "shared.secret", Location: "be1!default", ACL: "admin\tlrswipkxtecda\t"},
		locator.Entry{Name: "user.new", Reserved: true, Location: "be1!default"})
	_, addr := startProxy(t, loc, nil, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	lc.send("MAIL FROM:<someone@example.com>")
	lc.expect("250")
	for rcpt, want := range map[string]string{
		"john+lists@example.com":   "250",
		"JOHN@example.com":         "250",
		"nobody@example.com":       "550 5.1.1",
		"+shared.news@example.com": "550 5.1.1", // unixhierarchysep: the folder is +shared/news
		"+shared/news@example.com": "250",
		"+shared/board@x":          "550 5.7.1",
		"+shared/secret@x":         "550 5.1.1",
		"new@example.com":          "451 4.2.0",
		"@example.com":             "501 5.5.2", // go-smtp: no local part
	} {
		lc.send("RCPT TO:<" + rcpt + ">")
		if got := lc.reply(); !strings.HasPrefix(got, want) {
			t.Errorf("RCPT TO:<%s> = %q, want %s", rcpt, got, want)
		}
	}
	// With AUTH=, the sender's own rights count too, as in Cyrus.
	lc.send("RSET", "MAIL FROM:<john@example.com> AUTH=john@example.com", "RCPT TO:<+shared/board@x>")
	lc.expect("250")
	lc.expect("250")
	if got := lc.reply(); !strings.HasPrefix(got, "250") {
		t.Errorf("RCPT to a folder the AUTH= sender may post to: %q, want 250", got)
	}
}

func TestUnsyncedCacheTempfails(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"))
	loc.set(func(l *fakeLocator) { l.ready = false })
	_, addr := startProxy(t, loc, nil, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta", "MAIL FROM:<>", "RCPT TO:<john@example.com>", "RCPT TO:<nobody@example.com>")
	lc.expect("250")
	lc.expect("250")
	for _, rcpt := range []string{"john", "nobody"} {
		if got := lc.reply(); !strings.HasPrefix(got, "451 4.4.3") {
			t.Errorf("RCPT %s with an unsynced cache = %q, want 451 4.4.3", rcpt, got)
		}
	}
	// Synced but out of touch with the cluster for longer than allowed.
	loc.set(func(l *fakeLocator) { l.ready, l.lastContact = true, time.Now().Add(-time.Hour) })
	lc.send("RCPT TO:<nobody@example.com>")
	if got := lc.reply(); !strings.HasPrefix(got, "451 4.4.3") {
		t.Errorf("RCPT with a stale cache = %q, want 451 4.4.3", got)
	}
	loc.set(func(l *fakeLocator) { l.lastContact = time.Now() })
	lc.send("RCPT TO:<nobody@example.com>")
	if got := lc.reply(); !strings.HasPrefix(got, "550 5.1.1") {
		t.Errorf("RCPT with a fresh cache = %q, want 550 5.1.1", got)
	}
}

func TestConfirmWithCluster(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator()
	loc.cluster = func(name string) (locator.Entry, bool, error) {
		switch name {
		case "user.fresh":
			return user("fresh", "be1"), true, nil
		case "user.cut":
			return locator.Entry{}, false, errors.New("no leader")
		}
		return locator.Entry{}, false, nil
	}
	_, addr := startProxy(t, loc, nil, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta", "MAIL FROM:<>")
	lc.expect("250")
	lc.expect("250")
	for rcpt, want := range map[string]string{"fresh@x": "250", "cut@x": "451 4.4.3", "gone@x": "550 5.1.1"} {
		lc.send("RCPT TO:<" + rcpt + ">")
		if got := lc.reply(); !strings.HasPrefix(got, want) {
			t.Errorf("RCPT TO:<%s> = %q, want %s", rcpt, got, want)
		}
	}
}

func TestPartialFailures(t *testing.T) {
	be1, be2 := startBackend(t), startBackend(t)
	be2.refuse["jane@example.com"] = true
	be1.overQuota["bob@example.com"] = true
	loc := newLocator(user("john", "be1"), user("jane", "be2"), user("bob", "be1"), user("ann", "be3"))
	_, addr := startProxy(t, loc, nil, be1, be2)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	// be3 has no map entry: it is dialled as be3:24, which does not resolve.
	rr, dr := lc.transaction("", []string{"john@example.com", "jane@example.com", "bob@example.com", "ann@example.com"}, message)
	for i, r := range rr {
		if !strings.HasPrefix(r, "250") {
			t.Fatalf("RCPT %d = %q, want 250", i, r)
		}
	}
	want := []string{"250", "451 4.4.0", "552 5.2.2", "451 4.4.1"}
	for i, r := range dr {
		if !strings.HasPrefix(r, want[i]) {
			t.Errorf("DATA reply %d = %q, want %s", i, r, want[i])
		}
	}
	if got := be1.got(); len(got) != 1 || got[0].rcpt != "john@example.com" {
		t.Errorf("be1 delivered %+v, want john's only", got)
	}
	if got := be2.got(); len(got) != 0 {
		t.Errorf("be2 delivered %+v, want nothing", got)
	}
	// IGNOREQUOTA goes through to the backend.
	lc.send("MAIL FROM:<>", "RCPT TO:<bob@example.com> IGNOREQUOTA")
	lc.expect("250")
	lc.expect("250")
	lc.send("DATA")
	lc.expect("354")
	lc.send("Subject: urgent", "", "RCPT TO:<bob@example.com> IGNOREQUOTA", ".")
	lc.expect("250")
	got := be1.got()
	if len(got) != 2 || !got[1].ignoreQuota || got[1].body != "Subject: urgent\r\n\r\nRCPT TO:<bob@example.com> IGNOREQUOTA\r\n" {
		t.Errorf("be1 delivered %+v, want bob's with IGNOREQUOTA and the body untouched", got)
	}
}

func TestBadInput(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"))
	_, addr := startProxy(t, loc, func(c *Config) { c.MaxRecipients = 3 }, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	lc.send("RCPT TO:<john@example.com>")
	lc.expect("502 5.5.1")
	lc.send("DATA")
	lc.expect("502 5.5.1")
	lc.send("MAIL FROM:<>", "RCPT TO:<john@example.com>", "RCPT TO:<john@example.com>", "RCPT TO:<john@example.com>", "RCPT TO:<john@example.com>")
	lc.expect("250")
	lc.expect("250")
	lc.expect("250")
	lc.expect("250")
	lc.expect("452 4.5.3")
	// A bare LF in the message: nobody gets it.
	lc.send("DATA")
	lc.expect("354")
	if _, err := lc.c.Write([]byte("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		lc.expect("554 5.6.0")
	}
	if got := be1.got(); len(got) != 0 {
		t.Fatalf("a message with a bare LF was delivered: %+v", got)
	}
	// The connection is still usable.
	_, dr := lc.transaction("", []string{"john@example.com"}, message)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "250") {
		t.Fatalf("delivery after the bad input: %q", dr)
	}
	// A line of a megabyte ends the connection, with a reply.
	lc.send("NOOP " + strings.Repeat("x", 1<<20))
	lc.expect("500")
}

// A client still sending a line too long to take when the proxy gives up
// on it gets the proxy's 500 and an orderly end, not a reset that loses
// the reply.
func TestTooLongLineReplyArrives(t *testing.T) {
	_, addr := startProxy(t, newLocator(), nil, startBackend(t))
	for range 5 {
		lc := dialLMTP(t, addr)
		lc.send("LHLO " + strings.Repeat("x", 4<<20))
		lc.expect("500")
		if _, err := lc.r.ReadLine(); err != io.EOF {
			t.Fatalf("after the 500: %v, want the end of the stream", err)
		}
	}
}

func TestDataThatNeverEnds(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"), user("jane", "be2"))
	be2 := startBackend(t)
	_, addr := startProxy(t, loc, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }, be1, be2)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta", "MAIL FROM:<>", "RCPT TO:<john@example.com>", "RCPT TO:<jane@example.com>", "DATA")
	for range 4 {
		lc.expect("2")
	}
	lc.expect("354")
	lc.send("Subject: never ends", "", "and on")
	// The proxy gives up on the silent client: nothing is delivered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		lc.c.SetReadDeadline(deadline)
		if _, err := lc.r.ReadLine(); err != nil {
			break
		}
	}
	if time.Now().After(deadline) {
		t.Fatal("the proxy kept a silent connection open")
	}
	if got := append(be1.got(), be2.got()...); len(got) != 0 {
		t.Fatalf("an unfinished message was delivered: %+v", got)
	}
}

func TestLargeMessageSpooled(t *testing.T) {
	be1, be2 := startBackend(t), startBackend(t)
	loc := newLocator(user("john", "be1"), user("jane", "be2"))
	_, addr := startProxy(t, loc, nil, be1, be2)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	var b strings.Builder
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; b.Len() < 5<<20; i++ {
		b.WriteString(".leading dot, and a line of text to fill the message up\r\n")
	}
	big := b.String()
	stuffed := strings.ReplaceAll(big, "\r\n.", "\r\n..")
	_, dr := lc.transaction("", []string{"john@example.com", "jane@example.com"}, stuffed)
	if len(dr) != 2 || !strings.HasPrefix(dr[0], "250") || !strings.HasPrefix(dr[1], "250") {
		t.Fatalf("DATA replies %q, want two 250", dr)
	}
	for i, be := range []*testBackend{be1, be2} {
		if got := be.got(); len(got) != 1 || got[0].body != big {
			t.Errorf("be%d did not get the message whole", i+1)
		}
	}
}

func TestAddressesAndLongLines(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"))
	_, addr := startProxy(t, loc, nil, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	// A quoted local part is quoted again for the backend, so that what
	// it holds cannot pass for parameters.
	long := "Subject: long\r\n\r\n" + strings.Repeat("x", 2500) + "\r\n"
	_, dr := lc.transaction(`"a b"@example.com`, []string{`"john+x> IGNOREQUOTA"@example.com`}, long)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "250") {
		t.Fatalf("DATA replies %q, want one 250", dr)
	}
	got := be1.got()
	if len(got) != 1 || got[0].from != "a b@example.com" || got[0].rcpt != "john+x> IGNOREQUOTA@example.com" || got[0].ignoreQuota {
		t.Fatalf("be1 got %+v, want the quoted addresses whole and no IGNOREQUOTA", got)
	}
	if got[0].body != long {
		t.Errorf("a message line of 2,500 bytes did not arrive whole")
	}
	lc.send("MAIL FROM:<>", "RCPT TO:<john@exa<mple.com>")
	lc.expect("250")
	lc.expect("5")
}

func TestNoChunking(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"))
	_, addr := startProxy(t, loc, nil, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	if caps := lc.expect("250"); strings.Contains(caps, "CHUNKING") {
		t.Errorf("LHLO = %q, want no CHUNKING", caps)
	}
	lc.send("MAIL FROM:<>", "RCPT TO:<john@example.com>", "BDAT 7 LAST")
	lc.expect("250")
	lc.expect("250")
	lc.expect("50") // refused, as by a server without CHUNKING
	_, dr := lc.transaction("", []string{"john@example.com"}, message)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "250") {
		t.Fatalf("delivery after a refused BDAT: %q", dr)
	}
	if got := be1.got(); len(got) != 1 {
		t.Errorf("be1 got %d messages, want the one sent with DATA", len(got))
	}
}

// Lines that start with a dot reach every backend as they were written,
// whether the message is streamed to one backend or held for two.
func TestDotLines(t *testing.T) {
	be1, be2 := startBackend(t), startBackend(t)
	_, addr := startProxy(t, newLocator(user("john", "be1"), user("jane", "be2")), nil, be1, be2)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	const body = "Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\n. \r\nend\r\n"
	stuffed := strings.ReplaceAll("\r\n"+body, "\r\n.", "\r\n..")[2:]
	for _, rcpts := range [][]string{{"john@example.com"}, {"john@example.com", "jane@example.com"}} {
		_, dr := lc.transaction("", rcpts, stuffed)
		for i, r := range dr {
			if !strings.HasPrefix(r, "250") {
				t.Fatalf("%v: DATA reply %d %q, want 250", rcpts, i, r)
			}
		}
	}
	got := append(be1.got(), be2.got()...)
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	for _, d := range got {
		if d.body != body {
			t.Errorf("a backend got %q, want %q", d.body, body)
		}
	}
}

// A message over the size limit is refused for every recipient and read
// to its end: nothing of it is delivered, and nothing of it is taken for
// a command.
func TestMessageTooLarge(t *testing.T) {
	be1, be2 := startBackend(t), startBackend(t)
	loc := newLocator(user("john", "be1"), user("jane", "be2"))
	_, addr := startProxy(t, loc, func(c *Config) { c.MaxMessageBytes = 1000 }, be1, be2)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	big := "Subject: big\r\n\r\n" + strings.Repeat("MAIL FROM:<x@example.com>\r\nRCPT TO:<jane@example.com>\r\n", 40)
	for _, rcpts := range [][]string{{"john@example.com"}, {"john@example.com", "jane@example.com"}} {
		_, dr := lc.transaction("", rcpts, big)
		if len(dr) != len(rcpts) {
			t.Fatalf("%v: DATA replies %q", rcpts, dr)
		}
		for _, r := range dr {
			if !strings.HasPrefix(r, "552 5.3.4") {
				t.Errorf("%v: DATA reply %q, want 552 5.3.4", rcpts, r)
			}
		}
	}
	if got := append(be1.got(), be2.got()...); len(got) != 0 {
		t.Fatalf("a message over the limit was delivered: %+v", got)
	}
	_, dr := lc.transaction("", []string{"jane@example.com"}, message)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "250") {
		t.Fatalf("delivery after the large message: %q", dr)
	}
}

// A message that breaks off (the client falls silent) ends the
// connection: what the client sends next is neither a message for the
// backend nor commands, and nothing of it is delivered.
func TestBrokenMessageEndsConnection(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"), user("jane", "be1"))
	_, addr := startProxy(t, loc, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond }, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta", "MAIL FROM:<>", "RCPT TO:<john@example.com>", "DATA")
	for _, want := range []string{"250", "250", "250", "354"} {
		lc.expect(want)
	}
	io.WriteString(lc.c, "Subject: part\r\n\r\nhalf")
	lc.expect("4")
	// Whatever follows the timeout must not reach the backend.
	io.WriteString(lc.c, "MAIL FROM:<>\r\nRCPT TO:<john@example.com>\r\nDATA\r\nxyz")
	io.WriteString(lc.c, ".\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<jane@example.com>\r\nDATA\r\nforged\r\n.\r\n")
	for {
		if _, err := lc.r.ReadLine(); err != nil {
			break
		}
	}
	if got := be1.got(); len(got) != 0 {
		t.Fatalf("the backend took %+v after a message that broke off", got)
	}
	if n := be1.rcpts.Load(); n != 1 {
		t.Errorf("the backend took %d RCPTs, want john's in the broken transaction alone", n)
	}
}

// A line longer than Cyrus's lmtpd reads in one piece is refused: in one,
// a dot after the piece would end the message there, and the rest of the
// line be read as commands. A line just within the bound goes through.
func TestLongLines(t *testing.T) {
	be1 := startBackend(t)
	loc := newLocator(user("john", "be1"), user("jane", "be1"))
	_, addr := startProxy(t, loc, nil, be1)
	lc := dialLMTP(t, addr)
	lc.send("LHLO mta")
	lc.expect("250")
	smuggle := "Subject: long\r\n\r\n" + strings.Repeat("A", maxLine-2) + ".\r\nMAIL FROM:<>\r\nRCPT TO:<jane@example.com>\r\nDATA\r\nforged\r\n"
	_, dr := lc.transaction("", []string{"john@example.com"}, smuggle)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "554 5.6.0") {
		t.Fatalf("DATA replies %q, want 554 5.6.0", dr)
	}
	if got := be1.got(); len(got) != 0 {
		t.Fatalf("a message with a line too long was delivered: %+v", got)
	}
	within := "Subject: long\r\n\r\n" + strings.Repeat("B", maxLine-2) + "\r\nend\r\n"
	_, dr = lc.transaction("", []string{"john@example.com"}, within)
	if len(dr) != 1 || !strings.HasPrefix(dr[0], "250") {
		t.Fatalf("DATA replies %q for a line of %d octets, want 250", dr, maxLine)
	}
	if got := be1.got(); len(got) != 1 || got[0].body != within {
		t.Fatalf("the backend got %d deliveries, want the message within the bound, whole", len(got))
	}
}
