package raftfsm

import (
	"fmt"
	"sync"

	"github.com/google/btree"
)

// btreeDegree trades node size against depth; 32 keeps the per-entry
// overhead near 12 bytes.
const btreeDegree = 32

// table holds the entries twice: in Cyrus dbname order for LIST, UPDATE
// and snapshots, and in byte order for lookups and byte-order listings.
// Both trees share the immutable entries. Not safe for concurrent use; the
// FSM locks around it.
type table struct {
	byKey  *btree.BTreeG[*entry]
	byName *btree.BTreeG[*entry]
	// lookup is a reusable search bound for the write path, which runs
	// under the FSM's write lock; readers allocate their own.
	lookup entry
	// in makes the write path's entries.
	in interner
}

func newTable() *table {
	return &table{
		byKey:  btree.NewG(btreeDegree, lessCyrus),
		byName: btree.NewG(btreeDegree, lessBytes),
	}
}

// clone returns a copy that shares structure until either side changes.
func (t *table) clone() *table {
	return &table{byKey: t.byKey.Clone(), byName: t.byName.Clone()}
}

// load fills an empty table, building the two trees in parallel.
func (t *table) load(entries []*entry) error {
	var wg sync.WaitGroup
	dups := 0
	wg.Go(func() {
		for _, e := range entries {
			t.byKey.ReplaceOrInsert(e)
		}
	})
	for _, e := range entries {
		if _, dup := t.byName.ReplaceOrInsert(e); dup {
			dups++
		}
	}
	wg.Wait()
	if dups > 0 {
		return fmt.Errorf("%d duplicate names", dups)
	}
	return nil
}

func (t *table) len() int { return t.byName.Len() }

func (t *table) get(name string) *entry {
	e, _ := t.byName.Get(probe(name))
	return e
}

func (t *table) put(e *entry) {
	t.byKey.ReplaceOrInsert(e)
	t.byName.ReplaceOrInsert(e)
}

func (t *table) remove(e *entry) {
	t.byKey.Delete(e)
	t.byName.Delete(e)
}

// getForWrite is get without an allocation, for the write path only.
func (t *table) getForWrite(name string) *entry {
	t.lookup.name = name
	e, _ := t.byName.Get(&t.lookup)
	t.lookup.name = ""
	return e
}

// change is the effect of one operation: the entry before and after (nil
// when absent). An operation that changes nothing has before == after.
type change struct {
	before, after *entry
}

func (c change) changed() bool { return c.before != c.after }

// apply computes the effect of op at revision rev with Cyrus master
// semantics (imap/mupdate.c cmd_set) without touching the table.
func (t *table) apply(op Op, rev uint64) (change, error) {
	if err := op.Validate(); err != nil {
		return change{}, err
	}
	cur := t.getForWrite(op.Name)
	c := change{before: cur, after: cur}
	switch op.Kind {
	case OpReserve:
		// Refused only when the name lives elsewhere; at the same
		// location the entry becomes a reservation again, as in Cyrus.
		if cur != nil && cur.loc() != op.Location {
			return c, fmt.Errorf("%w at %s", ErrExists, cur.loc())
		}
		c.after = t.next(cur, op.Name, StateReserved, op.Location, "", rev)
	case OpActivate:
		// RFC 3656 §4.1: no prior RESERVE or entry is required.
		c.after = t.next(cur, op.Name, StateActive, op.Location, op.ACL, rev)
	case OpDeactivate:
		switch {
		case cur == nil:
			return c, ErrNotFound
		case cur.state() != StateActive:
			return c, ErrNotActive
		}
		c.after = t.next(cur, op.Name, StateReserved, op.Location, "", rev)
	case OpDelete:
		// Deleting an unknown name succeeds: backends treat NO as a
		// failed delete or rename.
		c.after = nil
	}
	return c, nil
}

// next returns the entry after a put, or cur itself when nothing changes,
// so repeating a write neither bumps the revision nor wakes watchers.
func (t *table) next(cur *entry, name string, st State, loc, acl string, rev uint64) *entry {
	if cur != nil && cur.state() == st && cur.loc() == loc && cur.aclString() == acl {
		return cur
	}
	created := rev
	if cur != nil {
		created = cur.created
	}
	return t.in.entry(Mailbox{Name: name, State: st, Location: loc, ACL: acl,
		CreateRevision: created, ModifyRevision: rev})
}

// commit makes a change visible in the table.
func (t *table) commit(c change) {
	switch {
	case !c.changed():
	case c.after == nil:
		t.remove(c.before)
	default:
		t.put(c.after)
	}
}

// undo reverts a committed change.
func (t *table) undo(c change) {
	switch {
	case !c.changed():
	case c.before == nil:
		t.remove(c.after)
	default:
		t.put(c.before)
	}
}
