package tests

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// transcript runs each command of a script on a fresh, logged-in
// connection and returns every reply line, normalised: a tagged
// completion keeps its status and response code but not its text (Cyrus
// puts timings there), and CAPABILITY codes, which differ by design
// between the frontends, are dropped.
func transcript(t *testing.T, addr, user, password string, script []string) [][]string {
	t.Helper()
	c := dialIMAP(t, addr)
	c.ok(fmt.Sprintf("LOGIN %s %s", user, password))
	var out [][]string
	for _, cmd := range script {
		t.Logf("%s: %s", addr, cmd)
		untagged, done := c.run(cmd)
		lines := []string{cmd}
		for _, l := range untagged {
			lines = append(lines, capabilityCode.ReplaceAllString(l, ""))
		}
		status, rest, _ := strings.Cut(done, " ")
		if code := responseCode.FindString(rest); code != "" && !strings.HasPrefix(code, "[CAPABILITY") {
			status += " " + code
		}
		out = append(out, append(lines, status))
	}
	c.ok("LOGOUT")
	return out
}

var (
	responseCode   = regexp.MustCompile(`^\[[^\]]*\]`)
	capabilityCode = regexp.MustCompile(`\[CAPABILITY [^\]]*\] ?`)
)

// TestFrontendMatchesCyrus runs the same scripts through Cyrus's own
// frontend and through roost-frontend, both in front of the same two
// backends and fed by the same cluster, and wants the same replies: the
// frontend answers LIST and NAMESPACE from its cache as Cyrus answers
// them from its mailboxes.db, and what it routes reaches the same backend.
func TestFrontendMatchesCyrus(t *testing.T) {
	m := startMurder(t)
	// Messages, flags, a special-use mailbox, a child of the shared
	// folder and subscriptions, made directly on the backends.
	msg := func(subject string) string {
		return "From: jane@example.com\r\nTo: john@example.com\r\nSubject: " + subject +
			"\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody of " + subject + "\r\n"
	}
	john := dialIMAP(t, m.be1.imapAddr)
	john.ok("LOGIN john john-pw")
	for i, flags := range []string{`(\Seen)`, `(\Flagged)`, "()"} {
		body := msg(fmt.Sprintf("john %d", i))
		john.ok(fmt.Sprintf(`APPEND INBOX %s "07-Dec-2026 10:0%d:00 +0000" {%d}`, flags, i, len(body)), body)
	}
	john.ok(`CREATE Drafts (USE (\Drafts))`)
	// (A Cyrus 3.6 backend refuses subscriptions to mailboxes on other
	// backends, even through its frontend: john's are all on backend1.)
	for _, s := range []string{"INBOX", "Sent", "Drafts"} {
		john.ok("SUBSCRIBE " + s)
	}
	john.ok("LOGOUT")
	jane := dialIMAP(t, m.be2.imapAddr)
	jane.ok("LOGIN jane jane-pw")
	jane.ok("CREATE Shared.Sub")
	for i := range 2 {
		body := msg(fmt.Sprintf("shared %d", i))
		jane.ok(fmt.Sprintf(`APPEND Shared (\Answered) "07-Dec-2026 11:0%d:00 +0000" {%d}`, i, len(body)), body)
		jane.ok(fmt.Sprintf(`APPEND INBOX "07-Dec-2026 12:0%d:00 +0000" {%d}`, i, len(body)), body)
	}
	jane.ok("SUBSCRIBE INBOX")
	jane.ok("LOGOUT")
	waitFor(t, "the frontend's cache to hold user.jane.Shared.Sub", 30*time.Second, func() error {
		if _, ok := m.f.Cache().Lookup("user.jane.Shared.Sub"); !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	cyrusFE := m.cyrusFrontend(t)

	common := []string{
		"NAMESPACE",
		`LIST "" ""`,
		`LIST "" "%"`,
		`LIST "" "*"`,
		`LIST "" "INBOX"`,
		`LIST "" "inbox"`,
		`LIST "" "Other Users"`,
		`LIST "" "Other Users.%"`,
		`LIST "" "Other Users.*"`,
		`LIST "Other Users." "*"`,
		`LIST "" "nothing*"`,
		`LIST "" "*" RETURN (CHILDREN)`,
		`LIST "" "%" RETURN (CHILDREN)`,
		`LIST "" ("INBOX" "Other Users.%")`,
		`LIST "" "*" RETURN (SUBSCRIBED)`,
		`LIST "" "%" RETURN (SUBSCRIBED CHILDREN)`,
		`LIST (SUBSCRIBED) "" "%"`,
		`LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"`,
		`LIST "" "*" RETURN (SPECIAL-USE)`,
		`LIST (SPECIAL-USE) "" "*"`,
		`LIST "" "%" RETURN (STATUS (MESSAGES UNSEEN))`,
		`LIST "" "*" RETURN (MYRIGHTS)`,
		`LIST "" "Other Users.jane.%"`,
		`LIST "Other Users.jane." "%"`,
		`LIST (SUBSCRIBED) "" "*"`,
		`LSUB "" "*"`,
		`STATUS INBOX (MESSAGES UIDNEXT UNSEEN)`,
		`MYRIGHTS INBOX`,
		`GETACL INBOX`,
		`GETQUOTAROOT INBOX`,
		`EXAMINE INBOX`,
		`FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`,
		`FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])`,
		`SEARCH ALL`,
		`SEARCH SUBJECT "1"`,
		`UID SEARCH NOT SEEN`,
		`CLOSE`,
	}
	shared := []string{
		`STATUS "Other Users.jane.Shared" (MESSAGES UIDNEXT UNSEEN)`,
		`MYRIGHTS "Other Users.jane.Shared"`,
		`LIST "" "Other Users.jane.Shared*"`,
		`EXAMINE "Other Users.jane.Shared"`,
		`FETCH 1:* (UID FLAGS INTERNALDATE BODY.PEEK[TEXT])`,
		`SEARCH ANSWERED`,
		`EXAMINE "Other Users.jane.Private"`,
		`STATUS "Other Users.jane.Private" (MESSAGES)`,
	}
	scripts := map[string][]string{
		"john": append(append([]string{}, common...), shared...),
		"jane": append(append([]string{}, common...), `GETACL Shared`, `LIST "" "Shared*"`, `EXAMINE Shared.Sub`),
	}
	passwords := map[string]string{"john": "john-pw", "jane": "jane-pw"}
	for user, script := range scripts {
		// A first pass through Cyrus clears \Recent, so that both
		// transcripts below see the same flags.
		transcript(t, cyrusFE.imapAddr, user, passwords[user], script)
		want := transcript(t, cyrusFE.imapAddr, user, passwords[user], script)
		got := transcript(t, m.f.IMAPAddr(), user, passwords[user], script)
		for i := range want {
			if w, g := strings.Join(want[i], "\n"), strings.Join(got[i], "\n"); w != g {
				t.Errorf("%s's %s:\nCyrus's frontend:\n%s\nroost-frontend:\n%s", user, script[i], w, g)
			}
		}
	}
}
