package raftfsm

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"

	"github.com/hashicorp/raft"
)

// Member is what the cluster records about a node besides its Raft address:
// where to forward gRPC calls when it leads.
type Member struct {
	ID       string
	GRPCAddr string
	// LogFormat is the newest log entry format the member's build
	// reads (LogFormat); 0 for builds that predate the field.
	LogFormat uint32
	// Promote: the member is a non-voter that joined to become a voter;
	// the leader promotes it once it has caught up (Store.PromoteReady).
	Promote bool
}

// DefaultHistorySize is how many recent changes the FSM keeps for watchers
// to resume from.
const DefaultHistorySize = 100_000

// FSM is the replicated state machine: the mailbox table, the member
// directory, the revision and the change history. Raft calls Apply,
// Snapshot and Restore from one goroutine; everything else may be called
// concurrently.
//
// Lock order: mu, then watchMu.
type FSM struct {
	logger *slog.Logger // immutable

	mu       sync.RWMutex
	tab      *table            // protected by mu
	members  map[string]Member // by ID; protected by mu
	revision uint64            // last applied command; protected by mu
	index    uint64            // last entry raft handed over; protected by mu
	written  uint32            // newest log format applied; protected by mu
	hist     *history          // protected by mu
	gen      uint64            // bumped by Restore; protected by mu
	// applied is closed and replaced whenever an entry is applied, to
	// wake waiters; protected by mu.
	applied chan struct{}

	watchMu  sync.Mutex
	watchers map[*Watcher]struct{} // protected by watchMu
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// NewFSM returns an empty state machine keeping historySize recent changes
// (0 means DefaultHistorySize). A nil logger discards.
func NewFSM(historySize int, logger *slog.Logger) *FSM {
	if historySize <= 0 {
		historySize = DefaultHistorySize
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FSM{
		logger:   logger,
		tab:      newTable(),
		members:  map[string]Member{},
		hist:     newHistory(historySize),
		applied:  make(chan struct{}),
		watchers: map[*Watcher]struct{}{},
	}
}

// Apply applies one committed log entry.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed log entries under one lock and wakes
// watchers once. Command entries answer with *ApplyResponse (mailbox
// operations) or nil.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	f.mu.Lock()
	changed := false
	for i, l := range logs {
		f.index = l.Index
		f.hist.applied(l.Index)
		if l.Type != raft.LogCommand {
			continue
		}
		cmd, err := decodeCommand(l.Data)
		if err != nil {
			// Every node would fail here alike; going on would
			// silently skip a change that others may have applied.
			panic(fmt.Sprintf("raftfsm: entry %d: %v", l.Index, err))
		}
		f.revision = l.Index
		f.written = max(f.written, cmd.format)
		resp, ch := f.applyCommand(cmd, l.Index)
		out[i] = resp
		changed = changed || ch
	}
	close(f.applied)
	f.applied = make(chan struct{})
	f.mu.Unlock()
	if changed {
		f.wakeWatchers()
	}
	return out
}

// applyCommand applies one decoded entry and reports whether any mailbox
// changed. Called with mu held.
func (f *FSM) applyCommand(cmd command, index uint64) (any, bool) {
	switch {
	case cmd.setMember != nil:
		f.members[cmd.setMember.ID] = *cmd.setMember
		return nil, false
	case cmd.rmMember != "":
		delete(f.members, cmd.rmMember)
		return nil, false
	}
	resp := &ApplyResponse{Revision: index, Results: make([]Result, len(cmd.ops))}
	changes := make([]change, len(cmd.ops))
	// One allocation for the entry's result mailboxes rather than one
	// each: every node builds them, for thousands of operations a second.
	var boxes []Mailbox
	failed := false
	for i, op := range cmd.ops {
		// Written at once, so later operations of the entry see it.
		c, err := f.tab.write(op, index)
		if err != nil {
			resp.Results[i] = Result{Err: fmt.Errorf("%s %q: %w", op.Kind, op.Name, err), Existed: c.before != nil}
			failed = true
			if cmd.atomic {
				break
			}
			continue
		}
		changes[i] = c
		resp.Results[i] = Result{Existed: c.before != nil}
		if c.after != nil {
			if boxes == nil {
				boxes = make([]Mailbox, len(cmd.ops))
			}
			boxes[i] = c.after.mailbox()
			resp.Results[i].Mailbox = &boxes[i]
		}
	}
	if failed && cmd.atomic {
		f.abort(cmd.ops, changes, resp)
		return resp, false
	}
	changed := false
	for _, c := range changes {
		if c.changed() {
			changed = true
			f.record(index, c)
		}
	}
	return resp, changed
}

// abort reverts an atomic batch: every change is undone in reverse order
// and every operation that had succeeded is reported as aborted.
func (f *FSM) abort(ops []Op, changes []change, resp *ApplyResponse) {
	for i := len(changes) - 1; i >= 0; i-- {
		f.tab.undo(changes[i])
	}
	for i := range resp.Results {
		if resp.Results[i].Err == nil {
			resp.Results[i] = Result{Err: fmt.Errorf("%s %q: %w", ops[i].Kind, ops[i].Name, ErrAborted)}
		}
	}
}

// record adds a change to the history. Called with mu held.
func (f *FSM) record(index uint64, c change) {
	if c.after == nil {
		f.hist.add(histEvent{rev: index, e: c.before, deleted: true})
		return
	}
	h := histEvent{rev: index, e: c.after}
	if c.before != nil {
		h.prevLoc = c.before.location
	}
	f.hist.add(h)
}

func mailboxOf(e *entry) *Mailbox {
	if e == nil {
		return nil
	}
	m := e.mailbox()
	return &m
}

// Get returns the entry for name, and the revision it was read at.
func (f *FSM) Get(name string) (*Mailbox, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return mailboxOf(f.tab.get(name)), f.revision
}

// Revision returns the revision of the last applied command.
func (f *FSM) Revision() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.revision
}

// Len returns the number of mailboxes.
func (f *FSM) Len() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tab.len()
}

// Member returns the gRPC address recorded for a node.
func (f *FSM) Member(id string) (string, bool) {
	m, ok := f.MemberInfo(id)
	return m.GRPCAddr, ok
}

// MemberInfo returns all that the member directory records for a node.
func (f *FSM) MemberInfo(id string) (Member, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.members[id]
	return m, ok
}

// WrittenFormat returns the newest log format of any entry applied so
// far, as far back as the snapshots go: a node whose build reads less may
// meet such an entry.
func (f *FSM) WrittenFormat() uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.written
}

// readFormat returns the newest log format that every one of servers
// has declared its build reads; 0 if there are none.
func (f *FSM) readFormat(servers []raft.Server) uint32 {
	if len(servers) == 0 {
		return 0
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	format := LogFormat
	for _, srv := range servers {
		format = min(format, f.members[string(srv.ID)].LogFormat)
	}
	return format
}

// AppliedIndex returns the index of the last log entry the FSM has seen.
func (f *FSM) AppliedIndex() uint64 {
	idx, _ := f.appliedIndex()
	return idx
}

// WaitMember waits until the member directory has an address for id: a
// new leader registers itself moments after it wins.
func (f *FSM) WaitMember(ctx context.Context, id string) (string, error) {
	for {
		f.mu.RLock()
		m, ok := f.members[id]
		addr := m.GRPCAddr
		next := f.applied
		f.mu.RUnlock()
		if ok && addr != "" {
			return addr, nil
		}
		select {
		case <-next:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// WaitIndex waits until the state holds the log entry at index: the
// revision of a client's last write, which a follower may not have applied
// yet when the leader's answer comes back. When ctx ends first it returns
// ErrBehind, with both indexes.
func (f *FSM) WaitIndex(ctx context.Context, index uint64) error {
	return f.waitIndex(ctx, index, nil)
}

// waitIndex is WaitIndex that also gives up with ErrClosed when closing
// is closed.
func (f *FSM) waitIndex(ctx context.Context, index uint64, closing <-chan struct{}) error {
	for {
		cur, next := f.appliedIndex()
		if cur >= index {
			return nil
		}
		select {
		case <-next:
		case <-closing:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("%w: applied %d, asked for %d: %w", ErrBehind, cur, index, ctx.Err())
		}
	}
}

// appliedIndex returns the index of the last entry the FSM has seen and a
// channel closed when it sees the next one. Raft's own AppliedIndex runs
// ahead of the FSM, so consistent reads wait on this one.
func (f *FSM) appliedIndex() (uint64, <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index, f.applied
}

// View returns a consistent, read-only copy of the table at the current
// revision. It is cheap (the trees are copied on write) and stays valid
// while writes go on, so long listings and dumps never hold up Apply.
func (f *FSM) View() *View {
	// Cloning marks the trees copy-on-write, which is a write.
	f.mu.Lock()
	defer f.mu.Unlock()
	return &View{tab: f.tab.clone(), revision: f.revision, index: f.index, written: f.written, gen: f.gen, members: maps.Clone(f.members)}
}

// View is a frozen state of the database.
type View struct {
	tab      *table            // immutable
	revision uint64            // immutable
	index    uint64            // immutable; last entry seen, >= revision
	written  uint32            // immutable; newest log format applied
	gen      uint64            // immutable
	members  map[string]Member // immutable
}

// Revision returns the revision the view was taken at.
func (v *View) Revision() uint64 { return v.revision }

// Len returns the number of mailboxes in the view.
func (v *View) Len() int { return v.tab.len() }

// Get returns the entry for name.
func (v *View) Get(name string) *Mailbox { return mailboxOf(v.tab.get(name)) }

// List calls fn for each selected mailbox, in order, until it returns
// false.
func (v *View) List(o ListOptions, fn func(Mailbox) bool) {
	v.tab.list(o, func(e *entry) bool { return fn(e.mailbox()) })
}

// Snapshot captures the state for Raft. It only clones; Persist does the
// I/O while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{view: f.View()}, nil
}

// Restore replaces the state with a snapshot. Watchers are cut off with
// ErrCompacted: the change that led here is not in their history.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	snap, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.tab = snap.tab
	f.members = snap.members
	f.revision = snap.revision
	f.index = max(snap.index, snap.revision)
	f.written = snap.written
	f.hist.reset(snap.revision)
	f.gen++
	close(f.applied)
	f.applied = make(chan struct{})
	f.mu.Unlock()
	f.wakeWatchers()
	f.logger.Info("restored snapshot", "index", snap.revision, "mailboxes", snap.tab.len())
	return nil
}
