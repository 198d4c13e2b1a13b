package coalesce

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var errClosed = errors.New("closed")

// echo answers each operation with itself, after the batch's gate opens.
type echo struct {
	mu      sync.Mutex
	batches [][]int
	gate    chan struct{} // nil: answer at once
}

func (e *echo) send(ops []int) func() ([]int, error) {
	e.mu.Lock()
	e.batches = append(e.batches, slices.Clone(ops))
	e.mu.Unlock()
	return func() ([]int, error) {
		if e.gate != nil {
			<-e.gate
		}
		return slices.Clone(ops), nil
	}
}

func split(r []int, off, n int) []int { return r[off : off+n] }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEachCallerGetsItsOwnResults: many concurrent callers with
// operations of different lengths; every one gets exactly its own answers
// back, and the batches carry every operation once.
func TestEachCallerGetsItsOwnResults(t *testing.T) {
	e := &echo{}
	c := New(Config[int]{MaxOps: 16, Inflight: 2, MaxLinger: time.Millisecond, Closed: errClosed}, e.send, split)
	defer c.Close()
	var wg sync.WaitGroup
	var given atomic.Int64 // operations the callers handed in
	const callers, rounds = 20, 50
	for w := range callers {
		wg.Go(func() {
			for r := range rounds {
				ops := make([]int, 1+(w+r)%3)
				for i := range ops {
					ops[i] = (w*rounds+r)*10 + i
				}
				given.Add(int64(len(ops)))
				got, err := c.Do(t.Context(), ops)
				if err != nil {
					t.Errorf("Do: %v", err)
					return
				}
				if !slices.Equal(got, ops) {
					t.Errorf("Do(%v) = %v", ops, got)
					return
				}
			}
		})
	}
	wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []int
	for _, b := range e.batches {
		if len(b) > 16 {
			t.Errorf("batch of %d operations, cap 16", len(b))
		}
		all = append(all, b...)
	}
	if len(all) != len(slices.Compact(slices.Sorted(slices.Values(all)))) {
		t.Error("an operation was sent twice")
	}
	if want := int(given.Load()); len(all) != want {
		t.Errorf("sent %d operations, want %d", len(all), want)
	}
	if len(e.batches) >= callers*rounds {
		t.Errorf("%d batches for %d calls: nothing was coalesced", len(e.batches), callers*rounds)
	}
}

// newIdle returns a Coalescer whose loop does not run, so a test can
// drive linger itself.
func newIdle(maxLinger time.Duration) *Coalescer[int, []int] {
	return &Coalescer[int, []int]{cfg: Config[int]{MaxOps: 100, Inflight: 1, MaxLinger: maxLinger, Closed: errClosed},
		queue: make(chan *call[int, []int], 100), stop: make(chan struct{})}
}

func newCall(op int, gen uint64) *call[int, []int] {
	return &call[int, []int]{ops: []int{op}, gen: gen, done: make(chan struct{})}
}

// lingered is what linger returned.
type lingered struct {
	batch   []*call[int, []int]
	stopped bool
}

// lingerAsync runs linger and returns its outcome on a channel.
func lingerAsync(c *Coalescer[int, []int], prev answered, batch []*call[int, []int]) <-chan lingered {
	out := make(chan lingered, 1)
	go func() {
		var ops []int
		for _, cl := range batch {
			ops = append(ops, cl.ops...)
		}
		b, _, stopped := c.linger(prev, batch, ops)
		out <- lingered{b, stopped}
	}()
	return out
}

// TestLingerWaitsForAnsweredCallers: three callers queued while a batch
// of one was in flight; the next batch waits for the one answered to
// come back, so the four travel together from then on.
func TestLingerWaitsForAnsweredCallers(t *testing.T) {
	c := newIdle(time.Hour)
	// Queued before the first answer (generation 0), which makes 1.
	batch := []*call[int, []int]{newCall(1, 0), newCall(2, 0), newCall(3, 0)}
	out := lingerAsync(c, answered{ops: 1, gen: 1, at: time.Now(), roundTrip: time.Hour}, batch)
	select {
	case l := <-out:
		t.Fatalf("linger returned %d calls before the answered caller came back", len(l.batch))
	case <-time.After(20 * time.Millisecond):
	}
	c.queue <- newCall(4, 1)
	if b := (<-out).batch; len(b) != 4 {
		t.Errorf("batch of %d calls, want 4", len(b))
	}
}

// TestLingerDoesNotDelay: a lone caller coming back, a batch with nothing
// answered before it, and a stop never wait; a stop is reported.
func TestLingerDoesNotDelay(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		prev answered
		gen  uint64 // of the one call
		stop bool
	}{
		{"lone caller back", answered{ops: 1, gen: 1, at: now, roundTrip: time.Hour}, 1, false},
		{"nothing answered", answered{}, 0, false},
		{"stopped", answered{ops: 5, gen: 1, at: now, roundTrip: time.Hour}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newIdle(time.Hour)
			if tt.stop {
				close(c.stop)
			}
			select {
			case l := <-lingerAsync(c, tt.prev, []*call[int, []int]{newCall(1, tt.gen)}):
				if len(l.batch) != 1 || l.stopped != tt.stop {
					t.Errorf("linger = %d calls, stopped %v; want 1, stopped %v", len(l.batch), l.stopped, tt.stop)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("linger waited")
			}
		})
	}
}

// TestLingerDeadline: callers that do not come back hold the batch no
// longer than the answered batch's round trip, nor than MaxLinger.
func TestLingerDeadline(t *testing.T) {
	tests := []struct {
		name                 string
		maxLinger, roundTrip time.Duration
		want                 time.Duration
	}{
		{"MaxLinger", 5 * time.Millisecond, time.Hour, 5 * time.Millisecond},
		{"round trip", time.Hour, 30 * time.Millisecond, 30 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newIdle(tt.maxLinger)
			start := time.Now()
			b := (<-lingerAsync(c, answered{ops: 10, gen: 1, at: start, roundTrip: tt.roundTrip}, []*call[int, []int]{newCall(1, 1)})).batch
			if len(b) != 1 {
				t.Errorf("batch of %d calls, want 1", len(b))
			}
			if d := time.Since(start); d < tt.want || d > 5*time.Second {
				t.Errorf("lingered %v, want about %v", d, tt.want)
			}
		})
	}
}

// TestClose: a batch in flight is answered, not failed; queued calls and
// later ones fail with Config.Closed.
func TestClose(t *testing.T) {
	e := &echo{gate: make(chan struct{})}
	c := New(Config[int]{MaxOps: 100, Inflight: 1, MaxLinger: time.Millisecond, Closed: errClosed}, e.send, split)
	results := make(chan error, 3)
	do := func(op int) { _, err := c.Do(context.Background(), []int{op}); results <- err }
	go do(1)
	waitFor(t, "the first batch to be sent", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.batches) == 1 })
	// The loop holds one of the next two, waiting for the batch in
	// flight; the other stays queued.
	go do(2)
	go do(3)
	waitFor(t, "the next calls to queue", func() bool { return len(c.queue) == 1 })
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	waitFor(t, "Close to refuse new calls", func() bool { c.mu.RLock(); defer c.mu.RUnlock(); return c.closed })
	if _, err := c.Do(context.Background(), []int{3}); !errors.Is(err, errClosed) {
		t.Errorf("Do after Close: %v, want %v", err, errClosed)
	}
	close(e.gate)
	<-closed
	var ok, failed int
	for range 3 {
		switch err := <-results; {
		case err == nil:
			ok++
		case errors.Is(err, errClosed):
			failed++
		default:
			t.Errorf("Do: %v", err)
		}
	}
	if ok != 1 || failed != 2 {
		t.Errorf("%d calls answered and %d closed, want the one in flight answered and the two queued closed", ok, failed)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.batches) != 1 {
		t.Errorf("%d batches sent, want only the one in flight at Close", len(e.batches))
	}
}

func ExampleCoalescer() {
	send := func(ops []string) func() (int, error) {
		return func() (int, error) { return len(ops), nil }
	}
	c := New(Config[string]{MaxOps: 64, Inflight: 1, MaxLinger: time.Millisecond}, send, func(n, _, _ int) int { return n })
	defer c.Close()
	n, _ := c.Do(context.Background(), []string{"a", "b"})
	fmt.Println(n)
	// Output: 2
}

// TestBatchCaps: a caller that would take a batch past MaxOps or MaxSize
// waits for the next batch, where it goes first; one bigger than the caps
// goes alone.
func TestBatchCaps(t *testing.T) {
	mk := func(ops ...int) *call[int, []int] {
		cl := &call[int, []int]{ops: ops, done: make(chan struct{})}
		for _, op := range ops {
			cl.size += op
		}
		return cl
	}
	tests := []struct {
		name      string
		maxOps    int
		maxSize   int
		first     *call[int, []int]
		queued    []*call[int, []int]
		wantBatch int // calls in the batch
		wantHeld  bool
	}{
		{"ops fit", 4, 0, mk(1), []*call[int, []int]{mk(1, 1, 1)}, 2, false},
		{"ops over", 5, 0, mk(1), []*call[int, []int]{mk(1, 1, 1), mk(1, 1), mk(1)}, 2, true},
		{"size over", 100, 10, mk(5), []*call[int, []int]{mk(4), mk(2), mk(1)}, 2, true},
		{"alone past the cap", 2, 0, mk(1, 1, 1), []*call[int, []int]{mk(1)}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newIdle(time.Hour)
			c.cfg.MaxOps, c.cfg.MaxSize = tt.maxOps, tt.maxSize
			for _, cl := range tt.queued {
				c.queue <- cl
			}
			c.size = tt.first.size
			batch, ops := c.drain([]*call[int, []int]{tt.first}, slices.Clone(tt.first.ops))
			if len(batch) != tt.wantBatch || (c.held != nil) != tt.wantHeld {
				t.Fatalf("batch of %d calls (%d ops), held %v; want %d calls, held %v", len(batch), len(ops), c.held != nil, tt.wantBatch, tt.wantHeld)
			}
			if tt.wantHeld && c.held != tt.queued[tt.wantBatch-1] {
				t.Errorf("held the wrong call: %v", c.held.ops)
			}
			if len(ops) > tt.maxOps && len(batch) > 1 {
				t.Errorf("%d operations in a batch of several calls, cap %d", len(ops), tt.maxOps)
			}
		})
	}
}
