package namespace

import "strings"

// category is Cyrus's mbname_category reduced to the LIST passes of
// mboxlist_do_find, which decide whether a name is looked at at all.
type category int

const (
	catPersonal     category = iota // INBOX, its folders, altprefix ones
	catOtherUser                    // another user's mailbox
	catShared                       // no owner, deleted or not
	catOwnerDeleted                 // the user's own deleted mailbox
	catOtherDeleted                 // another user's deleted mailbox
)

// categorize sorts m as mbname_category does. A deleted shared folder
// stays shared, because Cyrus looks at the owner first.
func (v *View) categorize(m *mbname) category {
	switch {
	case !m.isUser:
		return catShared
	case m.deleted != 0 && v.isOwn(m):
		return catOwnerDeleted
	case m.deleted != 0:
		return catOtherDeleted
	case !v.isOwn(m):
		return catOtherUser
	}
	return catPersonal
}

// Listed returns the name a Cyrus LIST would show this user for an
// internal name, leaving the ACL check (the 'l' right), intermediates and
// pattern matching to the caller. Beyond [View.ToExternal] it applies
// imapd's list_cb, which hides deleted mailboxes from non-admins unless the
// command selected VENDOR.CMU-INCLUDE-DELETED (includeDeleted) and
// allowdeleted is on, and mboxlist_do_find's passes: admins see other
// users, shared folders and deleted mailboxes but not their own; others see
// nothing of a namespace that disable_user_namespace or
// disable_shared_namespace turns off.
func (v *View) Listed(internal string, includeDeleted bool) (external string, ok bool) {
	m := parseInternal(internal, v.cfg())
	if m.deleted != 0 && !v.admin && !(includeDeleted && v.cfg().AllowDeleted) {
		return "", false
	}
	if !v.inPass(&m) {
		return "", false
	}
	return v.ToExternal(internal)
}

// inPass reports whether one of mboxlist_do_find's passes reaches m.
func (v *View) inPass(m *mbname) bool {
	c := v.cfg()
	shared := v.admin || !c.DisableSharedNamespace
	switch v.categorize(m) {
	case catPersonal:
		return !v.admin && v.hasPersonal()
	case catOtherUser:
		return v.admin || !c.DisableUserNamespace
	case catShared:
		return shared && v.inScanDomain(m)
	case catOwnerDeleted:
		return !v.admin && c.AllowDeleted && v.hasPersonal()
	default:
		return (v.admin || c.AllowDeleted && shared) && v.inScanDomain(m)
	}
}

// hasPersonal reports whether mboxlist_do_find searches the user's own
// mailboxes: not for an empty userid, nor one whose local part (the part
// before the first '@' under virtdomains) holds the hierarchy separator.
func (v *View) hasPersonal() bool {
	if v.userid == "" {
		return false
	}
	local := v.userid
	if v.cfg().VirtDomains != VirtDomainsOff {
		if i := strings.IndexByte(local, '@'); i >= 0 {
			local = local[:i]
		}
	}
	return strings.IndexByte(local, v.HierSep()) < 0
}

// inScanDomain reports whether m lies in the part of the database that
// mboxlist_do_find scans for shared and other users' deleted mailboxes: a
// user in a virtual domain (admin or not) scans only that domain.
func (v *View) inScanDomain(m *mbname) bool {
	if v.cfg().VirtDomains == VirtDomainsOff || !v.user.hasDomain {
		return true
	}
	return v.sameDomain(m)
}

// Descriptor is one namespace of an RFC 2342 NAMESPACE reply.
type Descriptor struct {
	Prefix string // the prefix, with its trailing separator if any
	Delim  byte   // the hierarchy separator
}

// Response is the NAMESPACE reply's three namespaces. A nil slice is NIL.
// Cyrus never sends more than one descriptor per namespace.
type Response struct {
	Personal []Descriptor
	Other    []Descriptor
	Shared   []Descriptor
}

// Namespaces returns what Cyrus's cmd_namespace answers this user, built
// as it is compiled (SLEEZY_NAMESPACE): the personal namespace when the
// user's INBOX exists, which only the mailbox database knows and so the
// caller says; the other-users and shared ones unless
// disable_user_namespace or disable_shared_namespace hides them from a
// non-admin. Admins get the standard namespace's prefixes, since
// altnamespace never applies to them.
func (v *View) Namespaces(inboxExists bool) Response {
	c := v.cfg()
	sep := v.HierSep()
	s := string(sep)
	personal, other, shared := "INBOX"+s, "user"+s, ""
	if v.alt {
		personal, other, shared = "", c.UserPrefix+s, c.SharedPrefix+s
	}
	one := func(prefix string) []Descriptor {
		return []Descriptor{{Prefix: prefix, Delim: sep}}
	}
	var r Response
	if inboxExists {
		r.Personal = one(personal)
	}
	if v.admin || !c.DisableUserNamespace {
		r.Other = one(other)
	}
	if v.admin || !c.DisableSharedNamespace {
		r.Shared = one(shared)
	}
	return r
}

// String formats r as the arguments of an untagged NAMESPACE response,
// e.g. `(("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))`, the
// bytes Cyrus writes. Unlike Cyrus it escapes '"' and '\' in a prefix, so
// that an odd prefix cannot break the reply.
func (r Response) String() string {
	parts := []string{list(r.Personal), list(r.Other), list(r.Shared)}
	return strings.Join(parts, " ")
}

// list formats one namespace, NIL when it is absent.
func list(ds []Descriptor) string {
	if ds == nil {
		return "NIL"
	}
	var b strings.Builder
	b.WriteByte('(')
	for _, d := range ds {
		b.WriteString("(" + quote(d.Prefix) + " " + quote(string(d.Delim)) + ")")
	}
	b.WriteByte(')')
	return b.String()
}

// quote writes s as an IMAP quoted string.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
