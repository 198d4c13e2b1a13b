package namespace

import "strings"

// ToExternal maps an internal name to the name this user is shown, as
// mbname_extname does for LIST, LSUB and the like. ok is false when Cyrus
// has no spelling for the name in this user's namespace: a deleted mailbox
// under altnamespace, a shared name whose first level is INBOX in the
// standard namespace, or a mailbox of another domain without crossdomains
// (mboxlist's find_p never lists those, and ToInternal could not reach
// them). Whether LIST shows the name at all is [View.Listed]'s question.
func (v *View) ToExternal(internal string) (external string, ok bool) {
	m := parseInternal(internal, v.cfg())
	if !v.admin && !v.cross && !v.sameDomain(&m) {
		return "", false
	}
	return v.external(&m)
}

// external spells m for the user.
func (v *View) external(m *mbname) (string, bool) {
	b := &extBuilder{sep: v.HierSep()}
	var ok bool
	if v.alt {
		ok = v.altExternal(b, m)
	} else {
		ok = v.stdExternal(b, m)
	}
	if !ok {
		return "", false
	}
	if m.deleted != 0 {
		b.sep0()
		b.raw(deletedSuffix(m.deleted))
	}
	if v.adomns && m.hasDomain {
		b.raw("@" + m.domain)
	}
	return b.String(), true
}

// altExternal spells m in altnamespace: shared folders under sharedprefix,
// other users under userprefix, and the user's own folders beside INBOX,
// except those whose first level would be read back as INBOX or a prefix,
// which go under altprefix.
func (v *View) altExternal(b *extBuilder, m *mbname) bool {
	c := v.cfg()
	switch {
	case m.deleted != 0:
		return false
	case !m.isUser:
		return v.altShared(b, m)
	case !v.isOwn(m):
		b.raw(c.UserPrefix)
		b.level(m.local)
		v.domainSuffix(b, m)
		b.levels(m.boxes)
		return true
	case len(m.boxes) == 0:
		b.raw("INBOX")
		return true
	}
	top := m.boxes[0]
	if isInbox(top) && (len(m.boxes) == 1 || top != "INBOX") ||
		!isInbox(top) && (top == c.UserPrefix || top == c.SharedPrefix || top == c.AltPrefix) {
		b.raw(c.AltPrefix)
		b.level(top)
	} else {
		b.text(top)
	}
	b.levels(m.boxes[1:])
	return true
}

// altShared spells a shared folder in altnamespace. A lone "user" level
// stands for the other-users prefix itself, as Cyrus special-cases it.
func (v *View) altShared(b *extBuilder, m *mbname) bool {
	if len(m.boxes) == 0 {
		return false
	}
	if len(m.boxes) == 1 && m.boxes[0] == "user" {
		b.raw(v.cfg().UserPrefix)
		return true
	}
	b.raw(v.cfg().SharedPrefix)
	b.level(m.boxes[0])
	v.domainSuffix(b, m)
	b.levels(m.boxes[1:])
	return true
}

// stdExternal spells m in the standard namespace: the user's own folders
// under INBOX, other users' (and every deleted user mailbox) under "user",
// shared folders at the top, and deleted ones behind deletedprefix.
func (v *View) stdExternal(b *extBuilder, m *mbname) bool {
	if m.deleted != 0 {
		b.raw(v.cfg().DeletedPrefix)
		b.sep0()
	}
	switch {
	case !m.isUser:
		if len(m.boxes) == 0 || isInbox(m.boxes[0]) {
			return false
		}
		if !v.adomns && !v.sameDomain(m) {
			return false
		}
		b.text(m.boxes[0])
		b.levels(m.boxes[1:])
	case m.deleted != 0 || !v.isOwn(m):
		b.raw("user")
		b.level(m.local)
		if v.cross {
			v.domainSuffix(b, m)
		} else if !v.adomns && !v.sameDomain(m) {
			return false
		}
		b.levels(m.boxes)
	default:
		b.raw("INBOX")
		b.levels(m.boxes)
	}
	return true
}

// domainSuffix writes crossdomains' "@domain" after a user's local part or
// a shared folder's first level: always, or with crossdomains_onlyother
// only for a domain other than the user's.
func (v *View) domainSuffix(b *extBuilder, m *mbname) {
	if !v.cross || v.cfg().CrossDomainsOnlyOther && v.sameDomain(m) {
		return
	}
	d := m.domain
	if !m.hasDomain {
		d = v.cfg().DefaultDomain
	}
	b.raw("@")
	b.text(d)
}

// extBuilder accumulates an external name, turning each level's '.' into
// '^' when '.' is the separator (_append_extbuf).
type extBuilder struct {
	strings.Builder
	sep byte
}

// raw appends s unchanged.
func (b *extBuilder) raw(s string) { b.WriteString(s) }

// sep0 appends the separator.
func (b *extBuilder) sep0() { b.WriteByte(b.sep) }

// text appends s with '.' escaped for the netnews separator.
func (b *extBuilder) text(s string) {
	if b.sep == '.' {
		s = strings.ReplaceAll(s, ".", "^")
	}
	b.WriteString(s)
}

// level appends the separator and one level.
func (b *extBuilder) level(s string) { b.sep0(); b.text(s) }

// levels appends the separator and each level.
func (b *extBuilder) levels(boxes []string) {
	for _, s := range boxes {
		b.level(s)
	}
}
