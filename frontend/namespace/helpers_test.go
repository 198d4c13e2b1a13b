package namespace

import (
	"testing"
	"time"
)

// TestInboxName follows mboxname_user_mbox(userid, NULL).
func TestInboxName(t *testing.T) {
	ns := mustNew(t, virtConfig())
	tests := []struct{ userid, want string }{
		{"jane", "user.jane"},
		{"jane@example.com", "example.com!user.jane"},
		{"jane@example.org", "user.jane"},
		{"jane.doe@example.com", "example.com!user.jane^doe"},
		{"a@b@example.com", "example.com!user.a@b"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := ns.InboxName(tc.userid); got != tc.want {
			t.Errorf("InboxName(%q) = %q, want %q", tc.userid, got, tc.want)
		}
		if got := ns.User(tc.userid).Inbox(); got != tc.want {
			t.Errorf("User(%q).Inbox() = %q, want %q", tc.userid, got, tc.want)
		}
	}
}

// TestParent follows _findparent in mboxlist.c, the walk Cyrus's CREATE
// makes to find where a new mailbox goes.
func TestParent(t *testing.T) {
	ns := mustNew(t, virtConfig())
	tests := []struct {
		internal, want string
		ok             bool
	}{
		{"user.jane.Sent.2024", "user.jane.Sent", true},
		{"user.jane.Sent", "user.jane", true},
		{"user.jane", "", false},
		// The bare INBOX level is no intermediate folder.
		{"user.jane.INBOX.x", "user.jane", true},
		{"user.jane.INBOX", "user.jane", true},
		{"user.jane.x.INBOX.y", "user.jane.x.INBOX", true},
		{"example.com!user.jane.Sent", "example.com!user.jane", true},
		{"example.com!news.a^b.c", "example.com!news.a^b", true},
		{"news.a", "news", true},
		{"news", "", false},
		{"example.com!news", "", false},
		{"DELETED.user.jane.a.b.5F3A2B1C", "DELETED.user.jane.a.5F3A2B1C", true},
		{"DELETED.user.jane.a.5F3A2B1C", "DELETED.user.jane.5F3A2B1C", true},
		{"DELETED.user.jane.5F3A2B1C", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		if got, ok := ns.Parent(tc.internal); got != tc.want || ok != tc.ok {
			t.Errorf("Parent(%q) = %q, %v, want %q, %v", tc.internal, got, ok, tc.want, tc.ok)
		}
	}
}

// TestOwner follows mboxname_to_userid and mboxname_isusermailbox.
func TestOwner(t *testing.T) {
	ns := mustNew(t, virtConfig())
	tests := []struct {
		internal, owner string
		ok, user, inbox bool
	}{
		{"user.jane", "jane", true, true, true},
		{"user.jane.Sent", "jane", true, true, false},
		{"user.jane^doe.Sent", "jane.doe", true, true, false},
		{"example.com!user.jane", "jane@example.com", true, true, true},
		{"example.org!user.bob", "bob", true, true, true},
		{"DELETED.user.jane.5F3A2B1C", "jane", true, false, false},
		{"DELETED.user.jane.Sent.5F3A2B1C", "jane", true, false, false},
		{"news", "", false, false, false},
		{"user", "", false, false, false},
		{"example.com!news.user.jane", "", false, false, false},
		{"", "", false, false, false},
	}
	for _, tc := range tests {
		if got, ok := ns.Owner(tc.internal); got != tc.owner || ok != tc.ok {
			t.Errorf("Owner(%q) = %q, %v, want %q, %v", tc.internal, got, ok, tc.owner, tc.ok)
		}
		if got := ns.IsUserMailbox(tc.internal); got != tc.user {
			t.Errorf("IsUserMailbox(%q) = %v, want %v", tc.internal, got, tc.user)
		}
		if got := ns.IsInbox(tc.internal); got != tc.inbox {
			t.Errorf("IsInbox(%q) = %v, want %v", tc.internal, got, tc.inbox)
		}
	}
}

// TestIsDeleted follows mboxname_isdeletedmailbox: more than two levels,
// deletedprefix first (case-sensitively), and a suffix strtoul reads as
// non-zero hex.
func TestIsDeleted(t *testing.T) {
	ns := mustNew(t, virtConfig())
	custom := mustNew(t, Config{DeletedPrefix: "Trash-Can"})
	tests := []struct {
		ns       *Namespace
		internal string
		when     int64
		ok       bool
	}{
		{ns, "DELETED.user.jane.Sent.5F3A2B1C", 0x5F3A2B1C, true},
		{ns, "DELETED.user.jane.5F3A2B1C", 0x5F3A2B1C, true},
		{ns, "example.com!DELETED.news.5F3A2B1C", 0x5F3A2B1C, true},
		{ns, "DELETED.news.5f3a2b1c", 0x5F3A2B1C, true},
		{ns, "DELETED.news.0x10", 0x10, true},
		{ns, "DELETED.news.10zz", 0x10, true},
		{ns, "DELETED.news. 10", 0x10, true},
		{ns, "DELETED.news.-1", -1, true},
		{ns, "DELETED.news.zz", 0, false},
		{ns, "DELETED.news.0", 0, false},
		{ns, "DELETED.5F3A2B1C", 0, false},
		{ns, "deleted.news.5F3A2B1C", 0, false},
		{ns, "user.jane.DELETED.x.5F3A2B1C", 0, false},
		{ns, "news", 0, false},
		{custom, "Trash-Can.user.jane.5F3A2B1C", 0x5F3A2B1C, true},
		{custom, "DELETED.user.jane.5F3A2B1C", 0, false},
	}
	for _, tc := range tests {
		got, ok := tc.ns.IsDeleted(tc.internal)
		want := time.Time{}
		if tc.ok {
			want = time.Unix(tc.when, 0).UTC()
		}
		if !got.Equal(want) || ok != tc.ok {
			t.Errorf("IsDeleted(%q) = %v, %v, want %v, %v", tc.internal, got, ok, want, tc.ok)
		}
	}
}

func TestHierSep(t *testing.T) {
	tests := []struct {
		cfg  Config
		want byte
	}{
		{DefaultConfig(), '/'},
		{Config{}, '.'},
		{Config{UnixHierarchySep: true}, '/'},
	}
	for _, tc := range tests {
		ns := mustNew(t, tc.cfg)
		if got := ns.HierSep(); got != tc.want {
			t.Errorf("HierSep() = %q, want %q", got, tc.want)
		}
		if got := ns.Admin("admin").HierSep(); got != tc.want {
			t.Errorf("Admin.HierSep() = %q, want %q", got, tc.want)
		}
	}
}

func TestViewAccessors(t *testing.T) {
	ns := mustNew(t, DefaultConfig())
	if v := ns.User("jane"); v.UserID() != "jane" || v.IsAdmin() {
		t.Errorf("User(%q) = %q, admin %v, want %q, false", "jane", v.UserID(), v.IsAdmin(), "jane")
	}
	if v := ns.Admin("root"); v.UserID() != "root" || !v.IsAdmin() {
		t.Errorf("Admin(%q) = %q, admin %v, want %q, true", "root", v.UserID(), v.IsAdmin(), "root")
	}
}
