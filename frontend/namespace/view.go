package namespace

import "strings"

// View is a [Namespace] as one authenticated user sees it, because Cyrus
// resolves "INBOX", altnamespace folders and the user's domain relative to
// the login. It is immutable and safe for concurrent use.
type View struct {
	ns     *Namespace
	userid string // as given; compared verbatim, as Cyrus compares imapd_userid
	user   mbname // userid taken apart
	admin  bool
	alt    bool // altnamespace applies: never for admins
	cross  bool // crossdomains applies: never for admins
	adomns bool // admin under virtdomains: names carry "@domain"
}

// User returns the view of an ordinary user. The userid must be canonical,
// as Cyrus's canonify_userid leaves it: "jane@example.com" under
// virtdomains, and without "@domain" for defaultdomain users. An empty
// userid has no INBOX.
func (n *Namespace) User(userid string) *View {
	return n.view(userid, false)
}

// Admin returns the view of a user listed in Cyrus's admins option (or a
// proxy login authorising as one). As mboxname_init_namespace does for
// them, it ignores altnamespace and crossdomains, shows deleted mailboxes
// under deletedprefix, and under virtdomains writes names of other domains
// as "user/jane/Sent@example.com".
func (n *Namespace) Admin(userid string) *View {
	return n.view(userid, true)
}

// view precomputes which of Cyrus's rules apply to this login, as
// mbname_from_extname and mbname_extname derive them from the namespace's
// isadmin flag on every call.
func (n *Namespace) view(userid string, admin bool) *View {
	virt := n.cfg.VirtDomains != VirtDomainsOff
	return &View{
		ns:     n,
		userid: userid,
		user:   parseUserID(userid, n.cfg.DefaultDomain),
		admin:  admin,
		alt:    n.cfg.AltNamespace && !admin,
		cross:  n.cfg.CrossDomains && !admin,
		adomns: virt && admin,
	}
}

// UserID returns the userid the view was made for.
func (v *View) UserID() string { return v.userid }

// IsAdmin reports whether the view is an admin's.
func (v *View) IsAdmin() bool { return v.admin }

// HierSep is the hierarchy separator this user sees.
func (v *View) HierSep() byte { return v.ns.HierSep() }

// Inbox returns the internal name of the user's INBOX, or "" for an empty
// userid; see [Namespace.InboxName].
func (v *View) Inbox() string { return v.ns.InboxName(v.userid) }

// cfg is the namespace's configuration, with defaults filled in.
func (v *View) cfg() *Config { return &v.ns.cfg }

// sameDomain reports whether m lies in the user's domain, comparing as
// Cyrus's strcmpsafe does, where defaultdomain is the empty domain.
func (v *View) sameDomain(m *mbname) bool {
	return m.domain == v.user.domain
}

// isOwn reports whether m belongs to the user, comparing the mailbox's
// userid with the login's verbatim as mbname_extname does.
func (v *View) isOwn(m *mbname) bool {
	id, ok := m.userid()
	return ok && id == v.userid
}

// equalFoldASCII is C's strcasecmp equality in the "C" locale, which is
// what Cyrus uses to recognise "INBOX"; strings.EqualFold would also fold
// non-ASCII letters.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// lowerASCII is tolower in the "C" locale.
func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isInbox reports a level spelled INBOX in any case.
func isInbox(s string) bool { return equalFoldASCII(s, "INBOX") }

// hasNUL reports a NUL byte, which ends a C string: Cyrus could never have
// received the rest of such a name.
func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// Alt reports whether the user sees the alternate namespace, where the
// INBOX's children are shown beside it rather than under it.
func (v *View) Alt() bool { return v.alt }
