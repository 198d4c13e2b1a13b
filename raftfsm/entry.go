package raftfsm

import (
	"unique"
)

// State is the state of a mailbox entry (RFC 3656 §3).
type State uint8

const (
	// StateReserved: the name is being created or moved.
	StateReserved State = 1
	// StateActive: the mailbox is usable at its location.
	StateActive State = 2

	// stateProbe marks a search bound in the trees, never a stored entry.
	stateProbe State = 0
)

func (s State) String() string {
	switch s {
	case StateReserved:
		return "RESERVED"
	case StateActive:
		return "ACTIVE"
	}
	return "UNKNOWN"
}

// Mailbox is one entry of the database as callers see it.
type Mailbox struct {
	Name           string
	State          State
	Location       string // "server!partition"
	ACL            string // byte-exact Cyrus ACL; empty while reserved
	CreateRevision uint64
	ModifyRevision uint64
}

// entry is a stored mailbox. Entries are immutable once in a tree, because
// snapshots and listings read cloned trees that share them: a change
// replaces the entry. Locations and ACLs repeat across many mailboxes, so
// they are interned; with the state, the domain boundary and the modify
// revision packed into one word an entry is 48 bytes.
type entry struct {
	name     string
	location unique.Handle[string]
	acl      unique.Handle[string]
	created  uint64
	// packed: modify revision << 13 | (index of the domain's '!' + 1,
	// 0 for none) << 2 | state. Names are at most MaxNameLen (< 2047)
	// bytes; revisions stay far below 2^51.
	packed uint64
}

const (
	stateBits  = 2
	domainBits = 11
	revShift   = stateBits + domainBits
	// maxRevision is the largest modify revision an entry can hold; at a
	// million writes a second a cluster reaches it after 70 years.
	maxRevision = 1<<(64-revShift) - 1
)

// interner makes entries, remembering the last location and ACL it
// interned: consecutive writes and snapshot records mostly repeat them (a
// user's folders share a server and an ACL), and unique.Make costs a
// lookup in a process-wide concurrent map, often a cache miss.
type interner struct {
	loc, acl last
}

// last is the last handle made, zero until one is.
type last struct{ h unique.Handle[string] }

func (l *last) make(s string) unique.Handle[string] {
	if l.h == (unique.Handle[string]{}) || l.h.Value() != s {
		l.h = unique.Make(s)
	}
	return l.h
}

func (in *interner) entry(m Mailbox) *entry {
	return &entry{
		name:     m.Name,
		location: in.loc.make(m.Location),
		acl:      in.acl.make(m.ACL),
		created:  m.CreateRevision,
		packed:   m.ModifyRevision<<revShift | uint64(domainEnd(m.Name)+1)<<stateBits | uint64(m.State),
	}
}

// probe returns a search bound whose key is key itself.
func probe(key string) *entry { return &entry{name: key} }

func (e *entry) state() State     { return State(e.packed & (1<<stateBits - 1)) }
func (e *entry) modified() uint64 { return e.packed >> revShift }

// domain returns the index of the '!' ending the name's domain, or -1.
func (e *entry) domain() int       { return int(e.packed>>stateBits&(1<<domainBits-1)) - 1 }
func (e *entry) loc() string       { return e.location.Value() }
func (e *entry) aclString() string { return e.acl.Value() }

func (e *entry) mailbox() Mailbox {
	return Mailbox{
		Name:           e.name,
		State:          e.state(),
		Location:       e.loc(),
		ACL:            e.aclString(),
		CreateRevision: e.created,
		ModifyRevision: e.modified(),
	}
}

// lessCyrus orders entries by Cyrus dbname; probes compare as raw keys.
func lessCyrus(a, b *entry) bool {
	ra, rb := a.state() == stateProbe, b.state() == stateProbe
	da, db := -1, -1
	if !ra {
		da = a.domain()
	}
	if !rb {
		db = b.domain()
	}
	if !ra && !rb && da == db {
		// Same domain boundary: the keys agree wherever the names do,
		// so only the first differing byte needs mapping.
		return lessSameDomain(a.name, b.name, da)
	}
	return compareKeys(a.name, da, ra, b.name, db, rb) < 0
}

func lessSameDomain(a, b string, dom int) bool {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return len(a) < len(b)
	}
	return keyByte(a, i, dom) < keyByte(b, i, dom)
}

// lessBytes orders entries by the bytes of their names.
func lessBytes(a, b *entry) bool { return a.name < b.name }
