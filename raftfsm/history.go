package raftfsm

import (
	"sort"
	"unique"
)

// EventType says what happened to an entry.
type EventType uint8

const (
	// EventPut: the entry was created or changed.
	EventPut EventType = iota + 1
	// EventDelete: the entry was removed; the event's Mailbox has the
	// name and the state it had.
	EventDelete
)

// Event is one change, at the revision (Raft index) that made it.
type Event struct {
	Revision uint64
	Type     EventType
	Mailbox  Mailbox
	// PrevLocation is, for a put that changed an existing entry, the
	// location it had before; empty otherwise. A subscriber to one
	// server's entries must hear of an entry that moves away from it.
	PrevLocation string
}

// histEvent is an event as the history keeps it: the entry after a put,
// or before a delete.
type histEvent struct {
	rev     uint64
	e       *entry
	prevLoc unique.Handle[string] // a put's former location; zero if none
	deleted bool
}

func (h histEvent) event() Event {
	ev := Event{Revision: h.rev, Type: EventPut, Mailbox: h.e.mailbox()}
	if h.deleted {
		ev.Type = EventDelete
	}
	if h.prevLoc != (unique.Handle[string]{}) {
		ev.PrevLocation = h.prevLoc.Value()
	}
	return ev
}

// history is a ring of the most recent events. Watchers resume from it;
// once an event is overwritten, watchers behind it must list again, like
// etcd's compaction. Not safe for concurrent use; the FSM locks around it.
type history struct {
	ring  []histEvent
	start int // index of the oldest event
	n     int // number of events held
	// floor: every event with a revision above it is held.
	floor uint64
	// restored: the state was replaced by a snapshot and no entry has
	// been applied since. The snapshot's revision is the floor then, but
	// a user restore may put an older state at a newer index, so a
	// revision past the floor cannot be trusted until the next entry.
	restored bool
}

func newHistory(size int) *history {
	return &history{ring: make([]histEvent, max(size, 1))}
}

func (h *history) at(i int) *histEvent { return &h.ring[(h.start+i)%len(h.ring)] }

// add appends an event, dropping the oldest when full.
func (h *history) add(ev histEvent) {
	if h.n == len(h.ring) {
		old := h.at(0)
		h.floor = max(h.floor, old.rev)
		*old = histEvent{}
		h.start = (h.start + 1) % len(h.ring)
		h.n--
	}
	*h.at(h.n) = ev
	h.n++
}

// applied records that the entry at index was applied. After a restore
// the first applied index fixes the floor: revisions before it belong to
// the restored state, which no event describes.
func (h *history) applied(index uint64) {
	if h.restored {
		h.restored = false
		h.floor = max(h.floor, index-1)
	}
}

// reset empties the history after a restore of a state at revision rev.
func (h *history) reset(rev uint64) {
	clear(h.ring)
	h.start, h.n, h.floor, h.restored = 0, 0, rev, true
}

// since returns up to about limit events with revisions above after,
// never splitting a revision. ErrCompacted means events after it are gone.
func (h *history) since(after uint64, limit int) ([]histEvent, error) {
	if after < h.floor || (h.restored && after > h.floor) {
		return nil, ErrCompacted
	}
	i := sort.Search(h.n, func(i int) bool { return h.at(i).rev > after })
	var out []histEvent
	for ; i < h.n; i++ {
		ev := *h.at(i)
		if len(out) > 0 && len(out) >= limit && ev.rev != out[len(out)-1].rev {
			break
		}
		out = append(out, ev)
	}
	return out, nil
}
