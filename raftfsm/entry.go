package raftfsm

import (
	"strings"
	"unique"
	"unsafe"
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
// revision packed into one word an entry is 48 bytes, and most names
// follow it in the same allocation (newEntry).
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

// interner makes entries. Locations and ACLs are interned through
// unique.Make, which costs a lookup in a process-wide concurrent map and,
// in a large table, mostly cache misses: a third of a write's cost. So the
// interner answers repeats itself: first the last string it saw
// (consecutive writes and snapshot records mostly repeat it: a user's
// folders share a server and an ACL), then a bounded map of recent ones
// (the cluster's few locations, the ACLs of the users being written).
type interner struct {
	loc, acl last
	recent   map[string]unique.Handle[string]
}

// recentMax bounds the interner's map; once full it starts over. The map
// holds its handles' strings, so a string stays alive while it is there:
// strings longer than recentMaxLen (long ACLs are rare and can reach
// MaxACLLen) are not kept, which bounds what the map holds to 4 MiB.
const (
	recentMax    = 4096
	recentMaxLen = 1024
)

// last is the last handle made, zero until one is.
type last struct{ h unique.Handle[string] }

func (in *interner) make(l *last, s string) unique.Handle[string] {
	if l.h != (unique.Handle[string]{}) && l.h.Value() == s {
		return l.h
	}
	h, ok := in.recent[s]
	if !ok {
		h = unique.Make(s)
		if len(s) <= recentMaxLen {
			if in.recent == nil || len(in.recent) >= recentMax {
				in.recent = make(map[string]unique.Handle[string], recentMax)
			}
			// Keyed by the handle's own string: s may point into a
			// whole decoded log entry, which the key would keep alive.
			in.recent[h.Value()] = h
		}
	}
	l.h = h
	return h
}

// entry makes an entry of m, with a copy of its name.
func (in *interner) entry(m Mailbox) *entry {
	e := newEntry(m.Name)
	e.location = in.make(&in.loc, m.Location)
	e.acl = in.make(&in.acl, m.ACL)
	e.created = m.CreateRevision
	e.packed = m.ModifyRevision<<revShift | uint64(domainEnd(m.Name)+1)<<stateBits | uint64(m.State)
	return e
}

// newEntry returns an entry holding a copy of name. Most names fit in the
// entry's own allocation, just after its fields: a tree search, which
// compares names at every step, then meets one cache miss per entry
// instead of two, and the garbage collector marks one object instead of
// two. The arrays are sized so that entry and name fill a size class.
func newEntry(name string) *entry {
	switch n := len(name); {
	case n <= 16:
		return withName[[16]byte](name)
	case n <= 32:
		return withName[[32]byte](name)
	case n <= 48:
		return withName[[48]byte](name)
	case n <= 64:
		return withName[[64]byte](name)
	case n <= 80:
		return withName[[80]byte](name)
	case n <= 96:
		return withName[[96]byte](name)
	case n <= 112:
		return withName[[112]byte](name)
	case n <= 128:
		return withName[[128]byte](name)
	}
	return &entry{name: strings.Clone(name)}
}

// nameRoom is the room newEntry makes for a name after its entry.
type nameRoom interface {
	[16]byte | [32]byte | [48]byte | [64]byte | [80]byte | [96]byte | [112]byte | [128]byte
}

// inlineEntry is an entry followed by room for its name.
type inlineEntry[A nameRoom] struct {
	e    entry
	name A
}

func withName[A nameRoom](name string) *entry {
	p := new(inlineEntry[A])
	b := unsafe.Slice((*byte)(unsafe.Pointer(&p.name)), unsafe.Sizeof(p.name))
	n := copy(b, name)
	// The bytes are never written again, as a string's must not be;
	// the string keeps the whole allocation, entry included, alive.
	p.e.name = unsafe.String(&b[0], n)
	return &p.e
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
