package raftfsm

import "strings"

// Cyrus 3.x keys its mailboxes.db by a "dbname": the domain (if any), the
// byte 0x1D, then the rest of the internal name with the hierarchy separator
// '.' turned into 0x1F and the escaped dot '^' turned back into '.'. Its
// backends walk their database in that key order and ctl_mboxlist -m merges
// a master's LIST against the walk, so LIST must come out in the same order
// (cyrus-imapd imap/mboxlist.c, mbname_dbname; issue #4946).
//
// The transformation keeps lengths, so the key of a name never needs to be
// built: keyByte maps one byte in place.
const (
	dbDomainSep = 0x1D
	dbHierSep   = 0x1F
)

// domainEnd returns the index of the '!' that ends name's domain, or -1.
func domainEnd(name string) int {
	return strings.IndexByte(name, '!')
}

// keyByte returns byte i of the dbname of a name whose domain ends at dom.
func keyByte(name string, i, dom int) byte {
	c := name[i]
	switch {
	case i < dom:
		return c
	case i == dom:
		return dbDomainSep
	case c == '.':
		return dbHierSep
	case c == '^':
		return '.'
	}
	return c
}

// CompareCyrus compares two internal mailbox names in Cyrus mailboxes.db
// order. It returns -1, 0 or +1.
func CompareCyrus(a, b string) int {
	return compareKeys(a, domainEnd(a), false, b, domainEnd(b), false)
}

// compareKeys compares the dbnames of a and b. A raw operand is already a
// key (a search bound) and is compared as it is.
func compareKeys(a string, da int, rawA bool, b string, db int, rawB bool) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if !rawA {
			ca = keyByte(a, i, da)
		}
		if !rawB {
			cb = keyByte(b, i, db)
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// cyrusKey returns the dbname of name.
func cyrusKey(name string) string {
	dom := domainEnd(name)
	b := make([]byte, len(name))
	for i := range b {
		b[i] = keyByte(name, i, dom)
	}
	return string(b)
}
