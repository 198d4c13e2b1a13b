package namespace

import "testing"

// TestListed follows imapd's list_cb (deleted mailboxes only for admins, or
// with VENDOR.CMU-INCLUDE-DELETED and allowdeleted) and mboxlist_do_find's
// passes; the capture in cyrus_test.go checks the same against Cyrus 3.6.1.
func TestListed(t *testing.T) {
	std := Config{UnixHierarchySep: true}
	allow := std
	allow.AllowDeleted = true
	hidden := DefaultConfig()
	hidden.DisableUserNamespace, hidden.DisableSharedNamespace = true, true
	virt := virtConfig()
	tests := []struct {
		cfg      Config
		admin    bool
		userid   string
		internal string
		deleted  bool
		want     string
		ok       bool
	}{
		{std, false, "jane", "user.jane.Sent", false, "INBOX/Sent", true},
		{std, false, "jane", "DELETED.user.jane.Sent.5F3A2B1C", false, "", false},
		{std, false, "jane", "DELETED.user.jane.Sent.5F3A2B1C", true, "", false},
		{allow, false, "jane", "DELETED.user.jane.Sent.5F3A2B1C", true, "DELETED/user/jane/Sent/5F3A2B1C", true},
		{allow, false, "john", "DELETED.user.jane.Sent.5F3A2B1C", true, "DELETED/user/jane/Sent/5F3A2B1C", true},
		{allow, false, "jane", "DELETED.news.5F3A2B1C", true, "DELETED/news/5F3A2B1C", true},
		{allow, false, "jane", "DELETED.news.5F3A2B1C", false, "", false},
		{std, true, "admin", "DELETED.user.jane.Sent.5F3A2B1C", false, "DELETED/user/jane/Sent/5F3A2B1C", true},
		// Admins are not searched for their own mailboxes.
		{std, true, "admin", "user.admin", false, "", false},
		{std, true, "admin", "user.jane", false, "user/jane", true},
		{hidden, false, "jane", "user.jane.Sent", false, "Sent", true},
		{hidden, false, "jane", "user.john", false, "", false},
		{hidden, false, "jane", "news", false, "", false},
		{hidden, true, "admin", "news", false, "news", true},
		// A userid whose local part holds the separator has no personal
		// namespace in mboxlist_do_find.
		{Config{}, false, "jane.doe", "user.jane^doe.Sent", false, "", false},
		{Config{}, false, "jane.doe", "news", false, "news", true},
		// Only the user's domain, as find_p restricts.
		{virt, false, "jane@example.com", "news", false, "", false},
		{virt, false, "jane@example.com", "example.com!news", false, "Shared Folders/news", true},
		// A domain admin's scan covers only their domain's shared folders.
		{virt, true, "admin@example.com", "other.org!news", false, "", false},
		{virt, true, "admin@example.com", "other.org!user.carl", false, "user/carl@other.org", true},
		{virt, true, "admin", "other.org!news", false, "news@other.org", true},
	}
	for _, tc := range tests {
		ns := mustNew(t, tc.cfg)
		v := ns.User(tc.userid)
		if tc.admin {
			v = ns.Admin(tc.userid)
		}
		if got, ok := v.Listed(tc.internal, tc.deleted); got != tc.want || ok != tc.ok {
			t.Errorf("%q: Listed(%q, %v) = %q, %v, want %q, %v",
				tc.userid, tc.internal, tc.deleted, got, ok, tc.want, tc.ok)
		}
	}
}

// TestNamespaces follows cmd_namespace with SLEEZY_NAMESPACE and the
// prefixes mboxname_init_namespace builds.
func TestNamespaces(t *testing.T) {
	hidden := DefaultConfig()
	hidden.DisableUserNamespace, hidden.DisableSharedNamespace = true, true
	tests := []struct {
		cfg   Config
		admin bool
		inbox bool
		want  string
	}{
		{DefaultConfig(), false, true, `(("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))`},
		{DefaultConfig(), false, false, `NIL (("Other Users/" "/")) (("Shared Folders/" "/"))`},
		{Config{AltNamespace: true}, false, true, `(("" ".")) (("Other Users." ".")) (("Shared Folders." "."))`},
		{Config{UnixHierarchySep: true}, false, true, `(("INBOX/" "/")) (("user/" "/")) (("" "/"))`},
		{Config{}, false, true, `(("INBOX." ".")) (("user." ".")) (("" "."))`},
		{DefaultConfig(), true, false, `NIL (("user/" "/")) (("" "/"))`},
		{hidden, false, true, `(("" "/")) NIL NIL`},
		{hidden, true, true, `(("INBOX/" "/")) (("user/" "/")) (("" "/"))`},
		{Config{AltNamespace: true, UserPrefix: `Us"ers`, SharedPrefix: `Sh\`}, false, true,
			`(("" ".")) (("Us\"ers." ".")) (("Sh\\." "."))`},
	}
	for _, tc := range tests {
		ns := mustNew(t, tc.cfg)
		v := ns.User("jane")
		if tc.admin {
			v = ns.Admin("admin")
		}
		if got := v.Namespaces(tc.inbox).String(); got != tc.want {
			t.Errorf("Namespaces(%v).String() = %s, want %s", tc.inbox, got, tc.want)
		}
	}
}

func TestNamespacesFields(t *testing.T) {
	r := mustNew(t, DefaultConfig()).User("jane").Namespaces(true)
	want := Response{
		Personal: []Descriptor{{Prefix: "", Delim: '/'}},
		Other:    []Descriptor{{Prefix: "Other Users/", Delim: '/'}},
		Shared:   []Descriptor{{Prefix: "Shared Folders/", Delim: '/'}},
	}
	for i, pair := range [][2][]Descriptor{{r.Personal, want.Personal}, {r.Other, want.Other}, {r.Shared, want.Shared}} {
		if len(pair[0]) != 1 || pair[0][0] != pair[1][0] {
			t.Errorf("Namespaces(true) namespace %d = %+v, want %+v", i, pair[0], pair[1])
		}
	}
}
