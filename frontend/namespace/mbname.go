package namespace

import (
	"strconv"
	"strings"
)

// mbname is a mailbox name taken apart, after Cyrus's mbname_t: the parts
// are what every rule compares, and the internal and external spellings are
// both built from them. Keeping one structure for both directions is what
// makes the two directions agree.
type mbname struct {
	// domain is the virtual domain; hasDomain is false for defaultdomain
	// entries. Cyrus tells a NULL domain from an empty one only when it
	// prints the name, so comparisons use domain alone.
	domain    string
	hasDomain bool

	// local is the owner's local part; isUser is false for shared folders.
	local  string
	isUser bool

	// boxes are the levels below the INBOX, or of a shared folder, with
	// any '.' inside a level in plain form (not as '^').
	boxes []string

	// deleted is the time_t of a DELETED mailbox's hex suffix; zero means
	// the mailbox is not deleted, as in Cyrus.
	deleted int64
}

// setDomain records a domain unless it is defaultdomain, which Cyrus never
// writes into a name (mbname_set_domain).
func (m *mbname) setDomain(domain, defaultDomain string) {
	if domain == defaultDomain {
		m.domain, m.hasDomain = "", false
		return
	}
	m.domain, m.hasDomain = domain, true
}

// copyDomain gives m the domain of o, as Cyrus's xstrdupnull of
// mbname_domain does.
func (m *mbname) copyDomain(o *mbname) {
	m.domain, m.hasDomain = o.domain, o.hasDomain
}

// userid is the owner's userid, "local@domain" outside defaultdomain, as
// mbname_userid builds it; ok is false for shared folders.
func (m *mbname) userid() (userid string, ok bool) {
	if !m.isUser {
		return "", false
	}
	if m.hasDomain {
		return m.local + "@" + m.domain, true
	}
	return m.local, true
}

// isEmpty reports a name with no owner, no levels and no deletion mark,
// which Cyrus spells as the empty internal name (or a bare "domain!").
func (m *mbname) isEmpty() bool {
	return !m.isUser && len(m.boxes) == 0 && m.deleted == 0
}

// parseUserID splits a userid at its last '@', as mbname_from_userid does,
// dropping defaultdomain.
func parseUserID(userid, defaultDomain string) mbname {
	var m mbname
	if userid == "" {
		return m
	}
	m.isUser = true
	m.local = userid
	if i := strings.LastIndexByte(userid, '@'); i >= 0 {
		m.local = userid[:i]
		m.setDomain(userid[i+1:], defaultDomain)
	}
	return m
}

// parseInternal takes an internal name apart as mbname_from_intname does:
// the domain ends at the first '!', levels are split on '.', a DELETED name
// needs more than two levels and an owned one more than one.
func parseInternal(name string, c *Config) mbname {
	var m mbname
	if i := strings.IndexByte(name, '!'); i >= 0 {
		m.setDomain(name[:i], c.DefaultDomain)
		name = name[i+1:]
	}
	boxes := splitLevels(name, '.')
	for i, b := range boxes {
		boxes[i] = strings.ReplaceAll(b, "^", ".")
	}
	if len(boxes) > 2 && boxes[0] == c.DeletedPrefix {
		m.deleted = parseHexTime(boxes[len(boxes)-1])
		boxes = boxes[1 : len(boxes)-1]
	}
	if len(boxes) > 1 && boxes[0] == "user" {
		m.local, m.isUser = boxes[1], true
		boxes = boxes[2:]
	}
	m.boxes = boxes
	return m
}

// internal spells m as mbname_intname does: "domain!", the deleted prefix,
// "user.local", the levels, and the deletion time as 32-bit upper-case hex.
func (m *mbname) internal(c *Config) string {
	var b strings.Builder
	if m.hasDomain {
		b.WriteString(m.domain)
		b.WriteByte('!')
	}
	var parts []string
	if m.deleted != 0 {
		parts = append(parts, c.DeletedPrefix)
	}
	if m.isUser {
		parts = append(parts, "user", internalLevel(m.local))
	}
	for _, box := range m.boxes {
		parts = append(parts, internalLevel(box))
	}
	if m.deleted != 0 {
		parts = append(parts, deletedSuffix(m.deleted))
	}
	b.WriteString(strings.Join(parts, "."))
	return b.String()
}

// deletedSuffix prints a deletion time as Cyrus does, with "%X" of an
// unsigned int: upper-case hex of the low 32 bits, so both directions agree
// on the suffix whatever spelling was read.
func deletedSuffix(t int64) string {
	return strings.ToUpper(strconv.FormatUint(uint64(uint32(t)), 16))
}

// internalLevel stores a level's '.' as '^' (_append_intbuf).
func internalLevel(s string) string {
	return strings.ReplaceAll(s, ".", "^")
}

// splitLevels splits s on sep and drops empty levels, as Cyrus's
// strarray_split does through strtok, so "a//b" and "/a/" are "a/b" and "a".
func splitLevels(s string, sep byte) []string {
	fields := strings.Split(s, string(sep))
	out := fields[:0]
	for _, f := range fields {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseHexTime reads a DELETED name's suffix the way Cyrus does, with
// strtoul(s, NULL, 16) stored into a time_t: leading white space, a sign and
// a "0x" are accepted, parsing stops at the first non-hex byte, overflow
// saturates, and a minus negates a value that did not overflow. Anything that reads as zero leaves the
// mailbox not deleted, which is why "DELETED.user.jane.x" is jane's INBOX
// "x" level rather than a deleted mailbox.
func parseHexTime(s string) int64 {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && hexDigit(s[i+2]) >= 0 {
		i += 2
	}
	v, overflow := hexValue(s[i:])
	if neg && !overflow {
		v = -v
	}
	return int64(v)
}

// hexValue parses the leading hex digits of s, saturating at the largest
// uint64 as strtoul saturates at ULONG_MAX (and then ignores the sign).
func hexValue(s string) (v uint64, overflow bool) {
	for i := 0; i < len(s); i++ {
		d := hexDigit(s[i])
		if d < 0 {
			break
		}
		if v > (^uint64(0))>>4 {
			overflow = true
		}
		v = v<<4 | uint64(d)
	}
	if overflow {
		return ^uint64(0), true
	}
	return v, false
}

// hexDigit is the value of one hex digit, or -1.
func hexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isCSpace is C's isspace in the "C" locale.
func isCSpace(c byte) bool {
	return c == ' ' || ('\t' <= c && c <= '\r')
}
