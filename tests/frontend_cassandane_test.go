package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFrontendCassandane ports the murder scenarios of Cyrus's Cassandane
// suite (cassandane/tiny-tests/MurderIMAP) to roost-frontend: john plays
// Cassandane's user, whose INBOX is on backend1, and shared folders live
// on backend2. Left out: replace_*, uidonly and append_utf8, which need
// REPLACE, UIDONLY and UTF8=ACCEPT from backends newer than Cyrus 3.6,
// and the xfer_* tests, since roost-frontend does not move mailboxes.
func TestFrontendCassandane(t *testing.T) {
	m := startMurder(t)
	fe := func(t *testing.T) *imapClient {
		c := dialIMAP(t, m.f.IMAPAddr())
		c.ok("LOGIN john john-pw")
		return c
	}
	be1 := func(t *testing.T, user, password string) *imapClient {
		c := dialIMAP(t, m.be1.imapAddr)
		c.ok("LOGIN " + user + " " + password)
		return c
	}
	msg := func(subject string) string {
		return "From: cassandane@example.com\r\nTo: john@example.com\r\nSubject: " + subject + "\r\n\r\nThis is " + subject + ".\r\n"
	}
	appendTo := func(c *imapClient, mailbox string, subjects ...string) {
		t.Helper()
		for _, s := range subjects {
			body := msg(s)
			c.ok(fmt.Sprintf("APPEND %s {%d}", mailbox, len(body)), body)
		}
	}
	sharedFolder := func(t *testing.T, name, rights string) string {
		m.be2.imapOK(t, "CREATE "+name, "SETACL "+name+" anyone "+rights)
		waitFor(t, name+" in the frontend's cache", 30*time.Second, func() error {
			if _, ok := m.f.Cache().Lookup(name); !ok {
				return fmt.Errorf("not yet")
			}
			return nil
		})
		return `"Shared Folders.` + name + `"`
	}
	subjects := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			if _, s, ok := strings.Cut(l, "Subject: "); ok {
				out = append(out, s)
			}
		}
		return out
	}

	t.Run("copy_across_backends", func(t *testing.T) {
		dest := sharedFolder(t, "copydest", "lrswi")
		c := fe(t)
		c.ok("CREATE CopySrc")
		appendTo(c, "CopySrc", "Message A", "Message B", "Message C", "Message D")
		c.ok("SELECT CopySrc")
		c.ok(`UID STORE 1,3 +FLAGS (\Deleted)`)
		c.ok("EXPUNGE")
		_, done := c.run("UID COPY 1:* " + dest)
		if !strings.HasPrefix(done, "OK [COPYUID ") || !strings.Contains(done, " 2,4 1,2]") {
			t.Errorf("UID COPY across backends = %s, want OK [COPYUID v 2,4 1,2]", done)
		}
		c.ok("SELECT " + dest)
		got := c.ok("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
		if s := subjects(got); !slices.Equal(s, []string{"Message B", "Message D"}) || !strings.Contains(strings.Join(got, " "), "UID 2 ") {
			t.Errorf("the copies: %q, want Message B as UID 1 and Message D as UID 2", got)
		}
		if body := strings.Join(c.ok("UID FETCH 2 (BODY.PEEK[TEXT])"), "\n"); !strings.Contains(body, "This is Message D.") {
			t.Errorf("the copy's body: %s", body)
		}
	})

	t.Run("move_shared_across_backends", func(t *testing.T) {
		shared := sharedFolder(t, "movesrc", "lrswipkxtecd")
		c := fe(t)
		appendTo(c, shared, "Message A")
		before := strings.Join(c.ok("STATUS INBOX (MESSAGES)"), " ")
		if got := strings.Join(c.ok("SELECT "+shared), " "); !strings.Contains(got, "* 1 EXISTS") {
			t.Fatalf("SELECT %s = %s, want 1 EXISTS", shared, got)
		}
		if got := strings.Join(c.ok("UID MOVE 1 INBOX"), " "); !strings.Contains(got, "* 1 EXPUNGE") {
			t.Errorf("UID MOVE across backends told %q, want the source's EXPUNGE", got)
		}
		direct := dialIMAP(t, m.be2.imapAddr)
		direct.ok("LOGIN " + cyrusAdmin + " " + cyrusPassword)
		if got := strings.Join(direct.ok("SELECT movesrc"), " "); !strings.Contains(got, "* 0 EXISTS") {
			t.Errorf("the source on backend2 after MOVE: %s, want 0 EXISTS", got)
		}
		after := strings.Join(c.ok("STATUS INBOX (MESSAGES)"), " ")
		if before == after {
			t.Errorf("INBOX after MOVE: %s, as before", after)
		}
	})

	t.Run("move_shared_across_backends_no_expunge_acl", func(t *testing.T) {
		shared := sharedFolder(t, "movenoe", "lrswipkxtcd")
		c := fe(t)
		appendTo(c, shared, "Message A")
		c.ok("SELECT " + shared)
		if _, done := c.run("UID MOVE 1 INBOX"); !strings.HasPrefix(done, "NO") || !strings.Contains(done, "Permission denied") {
			t.Errorf("UID MOVE without the e right = %s, want NO ... Permission denied", done)
		}
		if got := strings.Join(c.ok("STATUS "+shared+" (MESSAGES)"), " "); !strings.Contains(got, "MESSAGES 1") {
			t.Errorf("the source after a refused MOVE: %s, want its 1 message", got)
		}
	})

	t.Run("move_to_backend_nonexistent", func(t *testing.T) {
		c := fe(t)
		c.ok("CREATE Moves")
		appendTo(c, "Moves", "A", "B")
		c.ok("CREATE Dest")
		// Gone from the backend, not from the murder.
		m.be1.imapOK(t, "LOCALDELETE user.john.Dest")
		if got := listNames(c.ok(`LIST "" "*"`)); !slices.Contains(got, "Dest") {
			t.Errorf("the frontend's LIST = %q, want Dest (the cluster still has it)", got)
		}
		if got := listNames(be1(t, "john", "john-pw").ok(`LIST "" "*"`)); slices.Contains(got, "Dest") {
			t.Errorf("backend1's LIST = %q, want no Dest", got)
		}
		c.ok("SELECT Moves")
		for _, cmd := range []string{"UID MOVE 1 Dest", "UID COPY 2 Dest"} {
			if _, done := c.run(cmd); !strings.HasPrefix(done, "NO") || !strings.Contains(done, "Mailbox does not exist") {
				t.Errorf("%s = %s, want NO ... Mailbox does not exist", cmd, done)
			}
		}
	})

	t.Run("move_to_nonexistent", func(t *testing.T) {
		c := fe(t)
		c.ok("SELECT Moves")
		for _, cmd := range []string{"UID MOVE 1 Nonexistent", "UID COPY 2 Nonexistent"} {
			if _, done := c.run(cmd); !strings.HasPrefix(done, "NO") || !strings.Contains(done, "Mailbox does not exist") {
				t.Errorf("%s = %s, want NO ... Mailbox does not exist", cmd, done)
			}
		}
	})

	t.Run("list_subscribed", func(t *testing.T) {
		c := fe(t)
		for _, f := range []string{"A1", "A2", "A3", "lists", "personal", "timesheets"} {
			c.ok("CREATE " + f)
			c.ok("SUBSCRIBE " + f)
		}
		direct := be1(t, "john", "john-pw")
		for _, cmd := range []string{`LIST (SUBSCRIBED) "" "A*"`, `LIST (SUBSCRIBED) "A" "*"`} {
			want, got := direct.ok(cmd), c.ok(cmd)
			if !slices.Equal(listNames(want), []string{"A1", "A2", "A3"}) {
				t.Errorf("backend1's %s = %q", cmd, want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: frontend %q, backend %q", cmd, got, want)
			}
		}
	})

	t.Run("list_specialuse", func(t *testing.T) {
		c := fe(t)
		for _, f := range []string{"Drafts", "Junk", "Trash", "Sent"} {
			if f != "Sent" {
				c.ok("CREATE " + f)
			}
			c.ok("SUBSCRIBE " + f)
			c.ok(fmt.Sprintf(`SETMETADATA %s (/private/specialuse "\\%s")`, f, f))
		}
		cmd := `LIST (SPECIAL-USE) "" "*" RETURN (SUBSCRIBED)`
		want, got := be1(t, "john", "john-pw").ok(cmd), c.ok(cmd)
		if !slices.Equal(listNames(want), []string{"Drafts", "Junk", "Sent", "Trash"}) {
			t.Errorf("backend1's %s = %q", cmd, want)
		}
		for _, l := range want {
			if !strings.Contains(l, `\Subscribed`) {
				t.Errorf("backend1's %s: %s is not \\Subscribed", cmd, l)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: frontend %q, backend %q", cmd, got, want)
		}
	})

	t.Run("xlist", func(t *testing.T) {
		want, got := be1(t, "john", "john-pw").ok(`XLIST "" "*"`), fe(t).ok(`XLIST "" "*"`)
		if !slices.ContainsFunc(want, func(l string) bool { return strings.Contains(l, `\Inbox`) }) ||
			!slices.ContainsFunc(want, func(l string) bool { return strings.Contains(l, `\Junk`) }) {
			t.Errorf("backend1's XLIST = %q, want \\Inbox and \\Junk", want)
		}
		// The frontend lists the mailboxes john sees on backend2 too.
		if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
			t.Errorf("XLIST: frontend %q, backend %q", got, want)
		}
		for _, l := range got[min(len(want), len(got)):] {
			if !strings.Contains(l, `"Other Users.`) && !strings.Contains(l, `"Shared Folders.`) {
				t.Errorf("XLIST: the frontend added %s, not on backend2", l)
			}
		}
	})

	t.Run("proxy_search", func(t *testing.T) {
		c := fe(t)
		c.ok("CREATE Search")
		direct := be1(t, "john", "john-pw")
		for i := 1; i <= 10; i++ {
			appendTo(direct, "Search", fmt.Sprintf("Message %d", i))
		}
		direct.ok("SELECT Search")
		direct.ok(`UID STORE 1,6,10 +FLAGS (\Deleted)`)
		direct.ok("EXPUNGE")
		c.ok("EXAMINE Search")
		for cmd, want := range map[string]string{
			"SEARCH ALL":                  "* SEARCH 1 2 3 4 5 6 7",
			"UID SEARCH ALL":              "* SEARCH 2 3 4 5 7 8 9",
			"UID SEARCH RETURN (ALL) ALL": "UID ALL 2:5,7:9",
		} {
			if got := strings.Join(c.ok(cmd), " "); !strings.Contains(got, want) {
				t.Errorf("%s = %q, want %q", cmd, got, want)
			}
		}
	})

	t.Run("frontend_commands", func(t *testing.T) {
		c := fe(t)
		if got := c.ok(`LIST "" "*"`); len(got) == 0 {
			t.Error(`LIST "" "*" listed nothing`)
		}
		if _, done := c.run("SELECT NewFolder"); !strings.HasPrefix(done, "NO") || !strings.Contains(strings.ToLower(done), "mailbox does not exist") {
			t.Errorf("SELECT of a missing mailbox = %s", done)
		}
		c.ok("CREATE NewFolder")
		c.ok("SELECT NewFolder")
		const size = "/shared/vendor/cmu/cyrus-imapd/size"
		if got := strings.Join(c.ok(`GETMETADATA INBOX "`+size+`"`), " "); !strings.Contains(got, "METADATA INBOX (\""+size) {
			t.Errorf("GETMETADATA INBOX = %q", got)
		}
		got := strings.Join(c.ok(`GETMETADATA (INBOX NewFolder) "`+size+`"`), "\n")
		if !strings.Contains(got, "METADATA INBOX (\""+size) || !strings.Contains(got, "METADATA NewFolder (\""+size) {
			t.Errorf("GETMETADATA of two mailboxes = %q", got)
		}
		// Two mailboxes on two backends: each answers for its own.
		got = strings.Join(c.ok(`GETMETADATA (INBOX "Other Users.jane.Shared") "`+size+`"`), "\n")
		if !strings.Contains(got, "METADATA INBOX (") || !strings.Contains(got, `METADATA "Other Users.jane.Shared" (`) {
			t.Errorf("GETMETADATA of mailboxes on two backends = %q", got)
		}
		admin := dialIMAP(t, m.f.IMAPAddr())
		admin.ok("LOGIN " + cyrusAdmin + " " + cyrusPassword)
		admin.ok("SETQUOTA user.john (STORAGE 1024 MESSAGE 5000 X-NUM-FOLDERS 100)")
		if got := strings.Join(c.ok("GETQUOTAROOT INBOX"), " "); !strings.Contains(got, "STORAGE") {
			t.Errorf("GETQUOTAROOT INBOX after SETQUOTA = %q", got)
		}
		c.ok("ENABLE QRESYNC")
		c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
	})

	t.Run("rename_with_location", func(t *testing.T) {
		admin := dialIMAP(t, m.f.IMAPAddr())
		admin.ok("LOGIN " + cyrusAdmin + " " + cyrusPassword)
		for _, cmd := range []string{"RENAME user.john user.foo " + m.be2.servername + "!",
			"RENAME user.john user.john " + m.be2.servername + "!default"} {
			if _, done := admin.run(cmd); !strings.HasPrefix(done, "NO") {
				t.Errorf("%s = %s, want NO", cmd, done)
			}
		}
		be1(t, "john", "john-pw").ok("SELECT INBOX")
		if e, ok := m.f.Cache().Lookup("user.john"); !ok || e.Server() != m.be1.servername {
			t.Errorf("user.john after the refused moves: %+v, %v; want on backend1", e, ok)
		}
	})
}
