package namespace

import (
	"fmt"
	"strings"
)

// ToInternal maps a mailbox name from the client, already decoded from its
// IMAP astring, to the internal name Cyrus would use, following
// mbname_from_extname. The proxy routes on the result and forwards the
// client's own bytes to the backend. Empty levels are dropped ("a//b" is
// "a/b"), and "INBOX" is recognised in any case as the first level.
func (v *View) ToInternal(external string) (string, error) {
	m, err := v.parseExternal(external)
	if err != nil {
		return "", fmt.Errorf("to internal %q: %w", external, err)
	}
	return m.internal(v.cfg()), nil
}

// parseExternal takes an external name apart into an mbname.
func (v *View) parseExternal(ext string) (*mbname, error) {
	switch {
	case ext == "":
		return nil, ErrEmptyName
	case ext[0] == '\\':
		return nil, ErrSpecialUse
	case hasNUL(ext):
		return nil, ErrBadName
	}
	m := new(mbname)
	ext = v.initialDomain(m, ext)
	boxes, err := v.externalLevels(ext)
	if err != nil {
		return nil, err
	}
	if len(boxes) > 0 {
		if v.alt {
			v.fromAltLevels(m, boxes)
		} else {
			v.fromStdLevels(m, boxes)
		}
	}
	if m.isEmpty() {
		return nil, ErrNoMailbox
	}
	return m, nil
}

// initialDomain sets the domain Cyrus assumes before looking at the levels
// and returns the rest of the name: an admin under virtdomains names a
// domain with a trailing "@domain" (or means their own); everybody else is
// in their own domain unless crossdomains lets the name say otherwise.
func (v *View) initialDomain(m *mbname, ext string) string {
	switch {
	case v.adomns:
		if i := strings.LastIndexByte(ext, '@'); i >= 0 {
			m.setDomain(ext[i+1:], v.cfg().DefaultDomain)
			return ext[:i]
		}
		m.copyDomain(&v.user)
	case !v.cross:
		m.copyDomain(&v.user)
	}
	return ext
}

// externalLevels splits a name into levels and turns the separator's stand-in
// back into '.', as _array_from_extname does: with '/' a '.' is literal and
// '^' is refused; with '.' a '^' means '.' and '/' is refused.
func (v *View) externalLevels(ext string) ([]string, error) {
	sep := v.HierSep()
	boxes := splitLevels(ext, sep)
	for i, b := range boxes {
		if sep == '/' {
			if strings.IndexByte(b, '^') >= 0 {
				return nil, ErrBadName
			}
			continue
		}
		if strings.IndexByte(b, '/') >= 0 {
			return nil, ErrBadName
		}
		boxes[i] = strings.ReplaceAll(b, "^", ".")
	}
	return boxes, nil
}

// fromAltLevels applies altnamespace: the first level is matched, case
// sensitively and in this order, against altprefix, userprefix and
// sharedprefix; anything else is the user's own, with INBOX in any case
// meaning the INBOX alone or its exact-case "INBOX" child level.
func (v *View) fromAltLevels(m *mbname, boxes []string) {
	c := v.cfg()
	switch top := boxes[0]; top {
	case c.AltPrefix:
		v.own(m)
		m.boxes = boxes[1:]
	case c.UserPrefix:
		v.otherUser(m, boxes[1:])
	case c.SharedPrefix:
		m.boxes = boxes[1:]
		if v.cross {
			v.sharedDomain(m)
		}
	default:
		v.own(m)
		if isInbox(top) {
			if len(boxes) == 1 {
				boxes = nil
			} else {
				boxes[0] = "INBOX"
			}
		}
		m.boxes = boxes
	}
}

// fromStdLevels applies the standard namespace: INBOX in any case is the
// user's, then (for admins) deletedprefix, then "user" for other users;
// everything else is shared.
func (v *View) fromStdLevels(m *mbname, boxes []string) {
	if isInbox(boxes[0]) {
		v.own(m)
		m.boxes = boxes[1:]
		return
	}
	if v.admin && boxes[0] == v.cfg().DeletedPrefix {
		boxes = boxes[1:]
		if len(boxes) == 0 {
			return
		}
		m.deleted = parseHexTime(boxes[len(boxes)-1])
		boxes = boxes[:len(boxes)-1]
		if len(boxes) == 0 {
			return
		}
	}
	if boxes[0] == "user" {
		v.otherUser(m, boxes[1:])
		return
	}
	if (v.cfg().VirtDomains != VirtDomainsOff && !v.admin) || v.cross {
		m.copyDomain(&v.user)
	}
	m.boxes = boxes
}

// own makes m the user's mailbox; under crossdomains it also takes the
// user's domain, which no other rule set.
func (v *View) own(m *mbname) {
	m.local, m.isUser = v.user.local, v.user.isUser
	if v.cross {
		m.copyDomain(&v.user)
	}
}

// otherUser makes m the mailbox of the user named by rest[0], the level
// after "user" or userprefix; under crossdomains that level may end in
// "@domain".
func (v *View) otherUser(m *mbname, rest []string) {
	if len(rest) == 0 {
		return
	}
	m.local, m.isUser = rest[0], true
	m.boxes = rest[1:]
	if v.cross {
		m.local = v.crossDomain(m, m.local)
	}
}

// sharedDomain reads the "@domain" crossdomains puts on the first level of
// an altnamespace shared folder. A bare sharedprefix names no mailbox, so
// Cyrus's choice of domain for it does not matter.
func (v *View) sharedDomain(m *mbname) {
	if len(m.boxes) > 0 {
		m.boxes[0] = v.crossDomain(m, m.boxes[0])
	}
}

// crossDomain strips a trailing "@domain" from level into m's domain and
// returns the rest. Without one, crossdomains_onlyother means the user's
// own domain and plain crossdomains means defaultdomain.
func (v *View) crossDomain(m *mbname, level string) string {
	c := v.cfg()
	i := strings.LastIndexByte(level, '@')
	if i < 0 {
		if c.CrossDomainsOnlyOther {
			m.copyDomain(&v.user)
		}
		return level
	}
	if d := level[i+1:]; d != c.DefaultDomain {
		m.domain, m.hasDomain = d, true
	}
	return level[:i]
}
