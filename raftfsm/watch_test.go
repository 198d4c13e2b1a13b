package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// blockTimeout is how long a Next that must block is given before its
// deadline; waitTimeout bounds a Next that must return.
const (
	blockTimeout = 50 * time.Millisecond
	waitTimeout  = 10 * time.Second
)

// evKey is the comparable part of an event.
type evKey struct {
	rev  uint64
	typ  EventType
	name string
}

func (k evKey) String() string {
	t := "put"
	if k.typ == EventDelete {
		t = "del"
	}
	return fmt.Sprintf("%d:%s:%s", k.rev, t, k.name)
}

func keys(evs []Event) []evKey {
	out := make([]evKey, len(evs))
	for i, e := range evs {
		out[i] = evKey{e.Revision, e.Type, e.Mailbox.Name}
	}
	return out
}

func next(t *testing.T, w *Watcher) ([]Event, uint64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return w.Next(ctx)
}

// collect calls Next until the watcher reaches rev.
func collect(t *testing.T, w *Watcher, rev uint64) []Event {
	t.Helper()
	var out []Event
	for w.Revision() < rev {
		evs, got, err := next(t, w)
		if err != nil {
			t.Fatalf("Next() at %d = %v, want events up to %d", w.Revision(), err, rev)
		}
		if got != w.Revision() {
			t.Fatalf("Next() revision = %d, Revision() = %d, want equal", got, w.Revision())
		}
		out = append(out, evs...)
	}
	return out
}

func assertBlocks(t *testing.T, w *Watcher) {
	t.Helper()
	before := w.Revision()
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	evs, rev, err := w.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next() = %v, %d, %v, want to block until %v", keys(evs), rev, err, context.DeadlineExceeded)
	}
	if rev != before || w.Revision() != before {
		t.Errorf("Next() on deadline = revision %d (Revision() %d), want %d", rev, w.Revision(), before)
	}
}

// safeWatch calls Watch and turns a panic into an error.
func safeWatch(f *FSM, after uint64, prefix string) (w *Watcher, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Watch(%d) panicked: %v", after, r)
		}
	}()
	return f.Watch(after, prefix)
}

func TestWatchFollowsChanges(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("user.old", loc1, testACL))
	w, err := f.Watch(f.Revision(), "")
	if err != nil {
		t.Fatalf("Watch(%d) = %v, want nil error", f.Revision(), err)
	}
	defer w.Close()
	assertBlocks(t, w)

	f.must(reserveOp("user.jane", loc1))           // 2
	f.must(activateOp("user.jane", loc1, testACL)) // 3
	f.mustBatch(activateOp("user.a", loc2, ""),    // 4
		activateOp("example.com!user.b", loc2, testACL2),
		deleteOp("user.old"))
	f.must(activateOp("user.jane", loc1, testACL))             // 5: no-op
	f.apply(false, reserveOp("user.jane", loc3))               // 6: refused
	f.apply(true, deleteOp("user.a"), deactivateOp("x", loc1)) // 7: aborted
	f.must(deactivateOp("user.jane", loc2))                    // 8
	f.must(deleteOp("user.a"))                                 // 9
	f.must(deleteOp("user.a"))                                 // 10: nothing to delete

	want := []evKey{
		{2, EventPut, "user.jane"},
		{3, EventPut, "user.jane"},
		{4, EventPut, "user.a"},
		{4, EventPut, "example.com!user.b"},
		{4, EventDelete, "user.old"},
		{8, EventPut, "user.jane"},
		{9, EventDelete, "user.a"},
	}
	evs := collect(t, w, 9)
	if got := keys(evs); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	wantMbox := []Mailbox{
		{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 2, ModifyRevision: 2},
		{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 2, ModifyRevision: 3},
		{Name: "user.a", State: StateActive, Location: loc2, CreateRevision: 4, ModifyRevision: 4},
		{Name: "example.com!user.b", State: StateActive, Location: loc2, ACL: testACL2, CreateRevision: 4, ModifyRevision: 4},
		{Name: "user.old", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 1},
		{Name: "user.jane", State: StateReserved, Location: loc2, CreateRevision: 2, ModifyRevision: 8},
		{Name: "user.a", State: StateActive, Location: loc2, CreateRevision: 4, ModifyRevision: 4},
	}
	// A put of an existing entry says where it was (8 moved it).
	wantPrev := []string{"", loc1, "", "", "", loc1, ""}
	for i := range min(len(evs), len(wantMbox)) {
		if evs[i].Mailbox != wantMbox[i] {
			t.Errorf("event %d Mailbox = %+v, want %+v", i, evs[i].Mailbox, wantMbox[i])
		}
		if evs[i].PrevLocation != wantPrev[i] {
			t.Errorf("event %d PrevLocation = %q, want %q", i, evs[i].PrevLocation, wantPrev[i])
		}
	}
	// Everything was returned once: the watcher is idle now, even though
	// the revision moved on to 10 without events.
	assertBlocks(t, w)
	if evs, _, err := w.Pending(); err != nil || len(evs) != 0 {
		t.Errorf("Pending() = %v, %v, want nothing", keys(evs), err)
	}
}

func TestWatchNextWakesUp(t *testing.T) {
	f := newTestFSM(t, 0)
	w, err := f.Watch(0, "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	type result struct {
		evs []Event
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		evs, _, err := w.Next(ctx)
		done <- result{evs, err}
	}()
	f.must(activateOp("user.jane", loc1, testACL))
	r := <-done
	if r.err != nil || !slices.Equal(keys(r.evs), []evKey{{1, EventPut, "user.jane"}}) {
		t.Errorf("Next() = %v, %v, want [1:put:user.jane]", keys(r.evs), r.err)
	}
}

func TestWatchCanceledContext(t *testing.T) {
	f := newTestFSM(t, 0)
	w, _ := f.Watch(0, "")
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := w.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next(canceled) = %v, want %v", err, context.Canceled)
	}
	// Pending changes win over a canceled context.
	f.must(activateOp("user.jane", loc1, ""))
	if evs, rev, err := w.Next(ctx); err != nil || len(evs) != 1 || rev != 1 {
		t.Errorf("Next(canceled) with a change pending = %v, %d, %v, want one event at 1", keys(evs), rev, err)
	}
}

func TestWatchView(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("user.a", loc1, ""), activateOp("user.b", loc1, ""))
	v := f.View()
	f.must(deleteOp("user.a"), activateOp("user.c", loc2, testACL)) // 3, 4: after the view
	w := f.WatchView(v, "")
	defer w.Close()
	if got := w.Revision(); got != 2 {
		t.Errorf("WatchView(view at 2).Revision() = %d, want 2", got)
	}
	f.mustBatch(activateOp("user.b", loc2, ""), reserveOp("user.d", loc3)) // 5
	want := []evKey{{3, EventDelete, "user.a"}, {4, EventPut, "user.c"}, {5, EventPut, "user.b"}, {5, EventPut, "user.d"}}
	if got := keys(collect(t, w, 5)); !slices.Equal(got, want) {
		t.Errorf("events after view = %v, want %v", got, want)
	}
	assertBlocks(t, w)

	// A view of the current state sees nothing until the next change.
	w2 := f.WatchView(f.View(), "")
	defer w2.Close()
	assertBlocks(t, w2)
	f.must(deleteOp("user.d"))
	if got, want := keys(collect(t, w2, 6)), []evKey{{6, EventDelete, "user.d"}}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
}

func TestWatchFromPastRevision(t *testing.T) {
	f := newTestFSM(t, 0)
	for i := range 5 {
		f.must(activateOp(fmt.Sprintf("user.u%d", i), loc1, ""))
	}
	// Watch(after) with events held after it returns them (it once indexed
	// an empty slice).
	for _, after := range []uint64{0, 2, 4, 5, 9} {
		w, err := safeWatch(f.FSM, after, "")
		if err != nil {
			t.Errorf("Watch(%d) = %v, want a watcher", after, err)
			continue
		}
		var want []evKey
		for rev := after + 1; rev <= 5; rev++ {
			want = append(want, evKey{rev, EventPut, fmt.Sprintf("user.u%d", rev-1)})
		}
		if got := keys(collect(t, w, 5)); !slices.Equal(got, want) {
			t.Errorf("Watch(%d) events = %v, want %v", after, got, want)
		}
		w.Close()
	}
}

func TestWatchCompactedOnWatch(t *testing.T) {
	f := newTestFSM(t, 4)
	for i := range 10 {
		f.must(activateOp(fmt.Sprintf("user.u%d", i), loc1, "")) // one event each
	}
	// The history holds revisions 7..10.
	for _, after := range []uint64{0, 1, 5} {
		if w, err := safeWatch(f.FSM, after, ""); !errors.Is(err, ErrCompacted) {
			t.Errorf("Watch(%d) = %v, %v, want %v", after, w, err, ErrCompacted)
		}
	}
	for _, after := range []uint64{10, 11} {
		w, err := safeWatch(f.FSM, after, "")
		if err != nil {
			t.Errorf("Watch(%d) = %v, want a watcher", after, err)
			continue
		}
		w.Close()
	}
	// A view older than the history fails at Next.
	g := newTestFSM(t, 4)
	g.must(activateOp("user.x", loc1, ""))
	v := g.View()
	w := g.WatchView(v, "")
	defer w.Close()
	for i := range 6 {
		g.must(activateOp(fmt.Sprintf("user.u%d", i), loc1, ""))
	}
	if evs, _, err := next(t, w); !errors.Is(err, ErrCompacted) {
		t.Errorf("Next() on a compacted view = %v, %v, want %v", keys(evs), err, ErrCompacted)
	}
}

func TestWatchFallsBehind(t *testing.T) {
	t.Run("single entries", func(t *testing.T) {
		f := newTestFSM(t, 4)
		w, err := f.Watch(0, "")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		f.must(activateOp("user.a", loc1, ""), activateOp("user.b", loc1, ""))
		if got := keys(collect(t, w, 2)); len(got) != 2 {
			t.Fatalf("events = %v, want 2", got)
		}
		for i := range 5 {
			f.must(activateOp(fmt.Sprintf("user.u%d", i), loc1, ""))
		}
		// Revisions 3..7 made 5 events; the history of 4 lost revision 3.
		if evs, _, err := next(t, w); !errors.Is(err, ErrCompacted) {
			t.Errorf("Next() behind the history = %v, %v, want %v", keys(evs), err, ErrCompacted)
		}
		// It stays compacted.
		if _, _, err := w.Pending(); !errors.Is(err, ErrCompacted) {
			t.Errorf("Pending() behind the history = %v, want %v", err, ErrCompacted)
		}
	})
	t.Run("part of a batch", func(t *testing.T) {
		f := newTestFSM(t, 4)
		w, _ := f.Watch(0, "")
		defer w.Close()
		w2, _ := f.Watch(0, "")
		defer w2.Close()
		f.mustBatch(activateOp("user.a", loc1, ""), activateOp("user.b", loc1, ""), activateOp("user.c", loc1, ""))
		if got := keys(collect(t, w2, 1)); len(got) != 3 {
			t.Fatalf("events = %v, want 3", got)
		}
		// Revision 2's 5 events overflow the history: only 4 are left,
		// so a watcher at 1 lost one of them.
		f.mustBatch(deleteOp("user.a"), deleteOp("user.b"), deleteOp("user.c"), activateOp("user.d", loc1, ""),
			activateOp("user.e", loc1, ""))
		if evs, _, err := next(t, w); !errors.Is(err, ErrCompacted) {
			t.Errorf("Next() at 0 = %v, %v, want %v", keys(evs), err, ErrCompacted)
		}
		if evs, _, err := next(t, w2); !errors.Is(err, ErrCompacted) {
			t.Errorf("Next() at 1 = %v, %v, want %v", keys(evs), err, ErrCompacted)
		}
	})
	t.Run("while blocked", func(t *testing.T) {
		f := newTestFSM(t, 2)
		w, _ := f.Watch(0, "")
		defer w.Close()
		done := make(chan error, 1)
		go func() {
			_, _, err := next(t, w)
			done <- err
		}()
		// One ApplyBatch under one lock: Next sees all of it or none,
		// and all of it overflows the history.
		logs := make([]*raft.Log, 10)
		for i := range logs {
			f.index++
			logs[i] = commandLog(t, f.index, false, activateOp(fmt.Sprintf("user.u%d", i), loc1, ""))
		}
		f.ApplyBatch(logs)
		if err := <-done; !errors.Is(err, ErrCompacted) {
			t.Errorf("Next() = %v, want %v", err, ErrCompacted)
		}
	})
}

func TestWatchRestore(t *testing.T) {
	src := newTestFSM(t, 0)
	buildSnapshotState(src)
	snap := snapshotBytes(t, src.FSM)

	f := newTestFSM(t, 0)
	f.must(activateOp("user.jane", loc1, ""))
	old := f.View()
	idle, err := f.Watch(f.Revision(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	blocked, _ := f.Watch(f.Revision(), "")
	defer blocked.Close()
	done := make(chan error, 1)
	go func() {
		_, _, err := next(t, blocked)
		done <- err
	}()

	if err := restoreBytes(f.FSM, snap); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrCompacted) {
		t.Errorf("blocked Next() across Restore = %v, want %v", err, ErrCompacted)
	}
	if evs, _, err := next(t, idle); !errors.Is(err, ErrCompacted) {
		t.Errorf("Next() after Restore = %v, %v, want %v", keys(evs), err, ErrCompacted)
	}
	stale := f.WatchView(old, "")
	defer stale.Close()
	if evs, _, err := next(t, stale); !errors.Is(err, ErrCompacted) {
		t.Errorf("Next() on a view from before Restore = %v, %v, want %v", keys(evs), err, ErrCompacted)
	}
	// Even a later change does not revive them.
	f.index = src.index
	f.must(activateOp("user.after", loc1, ""))
	if _, _, err := idle.Pending(); !errors.Is(err, ErrCompacted) {
		t.Errorf("Pending() after Restore and a change = %v, want %v", err, ErrCompacted)
	}
	// A watcher from before the restored revision cannot resume.
	if _, err := safeWatch(f.FSM, 1, ""); !errors.Is(err, ErrCompacted) {
		t.Errorf("Watch(1) after Restore to %d = %v, want %v", src.index, err, ErrCompacted)
	}
	// A watcher from the current state follows.
	w := f.WatchView(f.View(), "")
	defer w.Close()
	f.must(deleteOp("user.after"))
	if got, want := keys(collect(t, w, f.index)), []evKey{{f.index, EventDelete, "user.after"}}; !slices.Equal(got, want) {
		t.Errorf("events after Restore = %v, want %v", got, want)
	}
}

// TestWatchRightAfterRestore: the state restored at revision R is exactly
// known, so watching from R (a fresh view) must wait for the next change.
//
// Right after a restore, watching from the snapshot's revision works:
// a quiet follower that installed a snapshot must not send every new
// watcher to relist.
func TestWatchRightAfterRestore(t *testing.T) {
	src := newTestFSM(t, 0)
	buildSnapshotState(src)
	snap := snapshotBytes(t, src.FSM)

	f := newTestFSM(t, 0)
	if err := restoreBytes(f.FSM, snap); err != nil {
		t.Fatal(err)
	}
	f.index = src.index
	w := f.WatchView(f.View(), "")
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), blockTimeout)
	defer cancel()
	if evs, _, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next() on a view taken right after Restore = %v, %v, want to block until %v",
			keys(evs), err, context.DeadlineExceeded)
	}
	w2, err := safeWatch(f.FSM, f.Revision(), "")
	if err != nil {
		t.Errorf("Watch(%d) right after Restore to %d = %v, want a watcher", f.Revision(), f.Revision(), err)
	} else {
		defer w2.Close()
	}
	f.must(activateOp("user.after", loc1, ""))
	if w2 != nil {
		if got, want := keys(collect(t, w2, f.index)), []evKey{{f.index, EventPut, "user.after"}}; !slices.Equal(got, want) {
			t.Errorf("events = %v, want %v", got, want)
		}
	}
}

func TestWatchPrefix(t *testing.T) {
	f := newTestFSM(t, 0)
	w, _ := f.Watch(0, "user.jane")
	defer w.Close()
	f.must(activateOp("user.bob", loc1, ""))            // 1
	f.must(activateOp("user.jane", loc1, ""))           // 2
	f.mustBatch(activateOp("user.jane.Sent", loc1, ""), // 3
		activateOp("user.bob.Sent", loc1, ""),
		activateOp("user.janet", loc1, ""))
	f.must(activateOp("example.com!user.jane", loc1, "")) // 4
	f.must(deleteOp("user.jane"))                         // 5
	f.must(deleteOp("user.bob"))                          // 6
	want := []evKey{{2, EventPut, "user.jane"}, {3, EventPut, "user.jane.Sent"}, {3, EventPut, "user.janet"},
		{5, EventDelete, "user.jane"}}
	// Next may return no events while it moves past other names.
	if got := keys(collect(t, w, 6)); !slices.Equal(got, want) {
		t.Errorf("events for prefix user.jane = %v, want %v", got, want)
	}
	assertBlocks(t, w)
}

func TestWatchRevisionNotSplit(t *testing.T) {
	f := newTestFSM(t, 0)
	w, _ := f.Watch(0, "")
	defer w.Close()
	const big = maxWatchBatch + 500
	ops := make([]Op, big)
	for i := range ops {
		ops[i] = activateOp(fmt.Sprintf("user.u%05d", i), loc1, "")
	}
	f.mustBatch(ops...) // 1
	for i := range 2*maxWatchBatch + 10 {
		f.must(activateOp(fmt.Sprintf("user.v%05d", i), loc2, "")) // 2..
	}
	evs, rev, err := next(t, w)
	if err != nil || len(evs) != big || rev != 1 {
		t.Fatalf("Next() = %d events at %d, %v, want %d at 1", len(evs), rev, err, big)
	}
	var all []Event
	for w.Revision() < f.index {
		evs, _, err := next(t, w)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > maxWatchBatch {
			t.Errorf("Next() = %d single-change events, want at most %d", len(evs), maxWatchBatch)
		}
		all = append(all, evs...)
	}
	if len(all) != 2*maxWatchBatch+10 {
		t.Fatalf("got %d events, want %d", len(all), 2*maxWatchBatch+10)
	}
	for i, ev := range all {
		if ev.Revision != uint64(i+2) || ev.Type != EventPut || ev.Mailbox.Name != fmt.Sprintf("user.v%05d", i) {
			t.Fatalf("event %d = %v, want %d:put:user.v%05d", i, keys([]Event{ev}), i+2, i)
		}
	}
}

func TestWatchersCount(t *testing.T) {
	f := NewFSM(0, nil)
	w1, _ := f.Watch(0, "")
	w2 := f.WatchView(f.View(), "x")
	if got := f.Watchers(); got != 2 {
		t.Errorf("Watchers() = %d, want 2", got)
	}
	w1.Close()
	w2.Close()
	w2.Close()
	if got := f.Watchers(); got != 0 {
		t.Errorf("Watchers() after Close = %d, want 0", got)
	}
}

// TestWatchConcurrent runs watchers against a writer; -race checks the
// locking and every watcher must see every change once, in order.
func TestWatchConcurrent(t *testing.T) {
	f := newTestFSM(t, 0)
	const entries = 1500
	var want []evKey
	logs := randomLog(t, 99, entries)
	// Compute the expected events by applying to a reference FSM.
	ref := NewFSM(0, nil)
	rw, _ := ref.Watch(0, "")
	for _, e := range logs {
		ref.Apply(e.log)
	}
	for rw.Revision() < ref.Revision() {
		evs, _, err := rw.Pending()
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		want = append(want, keys(evs)...)
	}

	const watchers = 4
	var wg sync.WaitGroup
	got := make([][]evKey, watchers)
	errs := make([]error, watchers)
	ws := make([]*Watcher, watchers)
	for i := range ws {
		ws[i], _ = f.Watch(0, "")
		defer ws[i].Close()
	}
	last := want[len(want)-1].rev
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			for w.Revision() < last {
				evs, _, err := w.Next(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				got[i] = append(got[i], keys(evs)...)
			}
		}()
	}
	// Readers too.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 50 {
			v := f.View()
			n := 0
			v.List(ListOptions{Prefix: "e"}, func(Mailbox) bool { n++; return true })
			f.Get("user.u01")
			f.Len()
		}
	}()
	for i := 0; i < len(logs); i += 10 {
		batch := make([]*raft.Log, 0, 10)
		for _, e := range logs[i:min(i+10, len(logs))] {
			batch = append(batch, e.log)
		}
		f.ApplyBatch(batch)
	}
	wg.Wait()
	for i := range ws {
		if errs[i] != nil {
			t.Errorf("watcher %d: Next() = %v", i, errs[i])
			continue
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("watcher %d saw %d events, want %d identical to a sequential run", i, len(got[i]), len(want))
		}
	}
}
