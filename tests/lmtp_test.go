package tests

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/roost-mail/roost/frontend"
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
