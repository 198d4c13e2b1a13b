package raftfsm

import (
	"context"
	"strings"
)

// maxWatchBatch bounds the events one Next call returns (a revision is
// never split, so one large batch may exceed it).
const maxWatchBatch = 1024

// Watcher follows the changes after a revision. Apply never waits for a
// watcher: it only wakes it. A watcher that falls so far behind that the
// history has dropped events it has not read gets ErrCompacted and must
// list again. A Watcher is used by one goroutine.
type Watcher struct {
	f      *FSM
	prefix string
	cursor uint64        // last revision returned
	gen    uint64        // the FSM generation the cursor belongs to
	wake   chan struct{} // capacity 1: a pending wake-up
}

// Watch returns a watcher for the changes after revision after, to names
// starting with prefix. It fails with ErrCompacted if the history no
// longer reaches back to after.
func (f *FSM) Watch(after uint64, prefix string) (*Watcher, error) {
	gen, err := f.checkWatch(after)
	if err != nil {
		return nil, err
	}
	return f.newWatcher(after, gen, prefix), nil
}

func (f *FSM) checkWatch(after uint64) (uint64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, err := f.hist.since(after, 0)
	return f.gen, err
}

// WatchView returns a watcher for the changes after a view was taken.
func (f *FSM) WatchView(v *View, prefix string) *Watcher {
	return f.newWatcher(v.revision, v.gen, prefix)
}

func (f *FSM) newWatcher(after, gen uint64, prefix string) *Watcher {
	w := &Watcher{f: f, prefix: prefix, cursor: after, gen: gen, wake: make(chan struct{}, 1)}
	f.watchMu.Lock()
	f.watchers[w] = struct{}{}
	f.watchMu.Unlock()
	return w
}

// Close stops the watcher.
func (w *Watcher) Close() {
	w.f.watchMu.Lock()
	delete(w.f.watchers, w)
	w.f.watchMu.Unlock()
}

// Revision returns the last revision the watcher has returned events up to.
func (w *Watcher) Revision() uint64 { return w.cursor }

// Next blocks until there are changes after the watcher's revision and
// returns them in order, with the revision they bring the watcher to. With
// a prefix, the events may be empty while the revision still advances.
func (w *Watcher) Next(ctx context.Context) ([]Event, uint64, error) {
	for {
		evs, err := w.poll()
		if err != nil || len(evs) > 0 {
			return w.filter(evs), w.cursor, err
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return nil, w.cursor, ctx.Err()
		}
	}
}

// Ready returns a channel that receives when there may be news; a caller
// that multiplexes the watcher with other work selects on it, then calls
// Pending.
func (w *Watcher) Ready() <-chan struct{} { return w.wake }

// Pending returns the changes available now without waiting.
func (w *Watcher) Pending() ([]Event, uint64, error) {
	evs, err := w.poll()
	return w.filter(evs), w.cursor, err
}

func (w *Watcher) poll() ([]histEvent, error) {
	w.f.mu.RLock()
	defer w.f.mu.RUnlock()
	if w.f.gen != w.gen {
		return nil, ErrCompacted
	}
	evs, err := w.f.hist.since(w.cursor, maxWatchBatch)
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		w.cursor = evs[len(evs)-1].rev
	}
	return evs, nil
}

func (w *Watcher) filter(evs []histEvent) []Event {
	out := make([]Event, 0, len(evs))
	for _, h := range evs {
		if strings.HasPrefix(h.e.name, w.prefix) {
			out = append(out, h.event())
		}
	}
	return out
}

// wakeWatchers tells every watcher that there may be news, without ever
// blocking.
func (f *FSM) wakeWatchers() {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	for w := range f.watchers {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Watchers returns the number of open watchers.
func (f *FSM) Watchers() int {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	return len(f.watchers)
}
