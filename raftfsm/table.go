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

// change is the effect of one operation: the entry before and after (nil
// when absent). An operation that changes nothing has before == after.
type change struct {
	before, after *entry
}

func (c change) changed() bool { return c.before != c.after }

// write applies op at revision rev with Cyrus master semantics
// (imap/mupdate.c cmd_set) and returns its effect; a refused operation
// leaves the table as it was.
//
// Each tree is searched once: the new entry goes into the byte-order tree
// first, which hands back the entry it replaced, and comes out again in
// the rare case that entry shows the write refused or changing nothing.
// Searching first and inserting after would walk that tree twice, and
// at a million entries each walk is mostly cache misses.
func (t *table) write(op Op, rev uint64) (change, error) {
	if err := op.Validate(); err != nil {
		return change{}, err
	}
	if op.Kind == OpDelete {
		// Deleting an unknown name succeeds: backends treat NO as a
		// failed delete or rename. As below, the entry comes out first
		// and goes back only if refused (only a confined delete is).
		t.lookup.name = op.Name
		cur, _ := t.byName.Delete(&t.lookup)
		t.lookup.name = ""
		if err := refusal(op, cur); err != nil {
			t.byName.ReplaceOrInsert(cur)
			return change{before: cur, after: cur}, err
		}
		if cur != nil {
			t.byKey.Delete(cur)
		}
		return change{before: cur}, nil
	}
	st, acl := StateReserved, ""
	if op.Kind == OpActivate {
		st, acl = StateActive, op.ACL
	}
	n := t.in.entry(Mailbox{Name: op.Name, State: st, Location: op.Location, ACL: acl,
		CreateRevision: rev, ModifyRevision: rev})
	cur, _ := t.byName.ReplaceOrInsert(n)
	err := refusal(op, cur)
	if err != nil || sameEntry(cur, n) {
		// A repeated write neither bumps the revision nor wakes
		// watchers.
		if cur != nil {
			t.byName.ReplaceOrInsert(cur)
		} else {
			t.byName.Delete(n)
		}
		return change{before: cur, after: cur}, err
	}
	if cur != nil {
		// Not yet visible to any reader: n is only in this tree, which
		// the write lock guards and clones do not share once changed.
		n.created = cur.created
	}
	t.byKey.ReplaceOrInsert(n)
	return change{before: cur, after: n}, nil
}

// refusal is why op cannot apply to the current entry cur, if it cannot.
func refusal(op Op, cur *entry) error {
	switch op.Kind {
	case OpReserve:
		// Refused only when the name lives elsewhere; at the same
		// location the entry becomes a reservation again, as in Cyrus.
		if cur != nil && cur.loc() != op.Location {
			return fmt.Errorf("%w at %s", ErrExists, cur.loc())
		}
	case OpDeactivate:
		switch {
		case cur == nil:
			return ErrNotFound
		case cur.state() != StateActive:
			return ErrNotActive
		}
	}
	// RFC 3656 §4.1: ACTIVATE needs no prior RESERVE or entry.
	if cur != nil && op.Confined() && !onServer(cur.loc(), op.OnlyOn) {
		return fmt.Errorf("%w (%s)", ErrWrongServer, cur.loc())
	}
	return nil
}

// sameEntry reports whether n would store what cur holds.
func sameEntry(cur, n *entry) bool {
	return cur != nil && cur.state() == n.state() && cur.location == n.location && cur.acl == n.acl
}

// undo reverts a written change.
func (t *table) undo(c change) {
	switch {
	case !c.changed():
	case c.before == nil:
		t.remove(c.after)
	default:
		t.put(c.before)
	}
}
