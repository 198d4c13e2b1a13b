// Package coalesce shares one round trip among concurrent callers: the
// operations callers hand in while earlier batches are in flight go out
// together in the next batch (group commit). The leader uses it to pack
// writes into Raft log entries, followers to pack forwarded writes into
// Batch calls to the leader.
package coalesce

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Coalescer.
type Config[Op any] struct {
	// MaxOps caps the operations of one batch. A caller's operations
	// are never split: a caller that would take a batch past the cap
	// waits for the next one, and a caller with more than MaxOps goes
	// alone.
	MaxOps int
	// Size, if set, weighs an operation (in bytes, say), and MaxSize
	// caps the weight of a batch as MaxOps caps its length.
	Size    func(Op) int
	MaxSize int
	// Inflight bounds the batches in flight at once.
	Inflight int
	// MaxLinger caps how long a batch waits for callers to come back
	// (see Coalescer).
	MaxLinger time.Duration
	// Closed is the error of calls made after Close, and of calls still
	// queued when it came.
	Closed error
}

// Send starts one batch and returns a function that waits for its
// outcome. Send itself runs on the Coalescer's loop, one batch at a time
// and in order, so batches start in the order their callers came; the
// returned function runs on a goroutine of its own.
type Send[Op, Resp any] func(ops []Op) (wait func() (Resp, error))

// Split returns the part of a batch's response that belongs to the n
// operations starting at off.
type Split[Resp any] func(r Resp, off, n int) Resp

// Coalescer batches concurrent callers' operations.
//
// Callers that each wait for their answer before they call again would,
// without more, split into waves: the callers answered by one batch come
// back just after the next batch has left with those that queued
// meanwhile, and from then on each batch carries half of them. So the
// batch that follows an answered one waits, briefly, for the callers just
// answered to come back: until it holds as many operations as were
// waiting plus as many as were answered, and at most the answered batch's
// round trip after the answer (never more than MaxLinger). Waiting a
// round trip costs one batch that much; splitting into waves halves every
// batch from then on, and callers that answer through a network and a
// busy scheduler come back over milliseconds. A lone caller never waits:
// it is the one expected.
type Coalescer[Op, Resp any] struct {
	cfg   Config[Op]
	send  Send[Op, Resp]
	split Split[Resp]
	queue chan *call[Op, Resp]
	stop  chan struct{}
	loop  sync.WaitGroup // the loop and the batches' waiters
	// held was taken from the queue but left for the next batch, and
	// size is the weight of the batch being gathered; only the loop
	// touches them.
	held *call[Op, Resp]
	size int

	mu     sync.RWMutex
	closed bool // protected by mu; no call is queued once set

	answers atomic.Uint64 // batches answered so far
	lastMu  sync.Mutex
	last    answered // the last batch answered; protected by lastMu
}

// call is one caller's operations.
type call[Op, Resp any] struct {
	ops  []Op
	size int    // weight of ops (Config.Size)
	gen  uint64 // batches answered when it was queued
	resp Resp   // set before done is closed
	err  error  // set before done is closed
	done chan struct{}
}

// answered describes a batch whose callers have their answers.
type answered struct {
	ops       int           // operations it carried
	gen       uint64        // answers counted, this one included
	at        time.Time     // when its callers were answered
	roundTrip time.Duration // from sending it to answering them
}

// New starts a Coalescer.
func New[Op, Resp any](cfg Config[Op], send Send[Op, Resp], split Split[Resp]) *Coalescer[Op, Resp] {
	c := &Coalescer[Op, Resp]{cfg: cfg, send: send, split: split,
		queue: make(chan *call[Op, Resp], cfg.MaxOps), stop: make(chan struct{})}
	c.loop.Add(1)
	go c.run()
	return c
}

// Do queues ops and waits for the outcome of the batch that carries them.
// If ctx ends first, Do returns its error; the operations may still be
// carried out.
func (c *Coalescer[Op, Resp]) Do(ctx context.Context, ops []Op) (Resp, error) {
	cl := &call[Op, Resp]{ops: ops, gen: c.answers.Load(), done: make(chan struct{})}
	if c.cfg.Size != nil {
		for _, op := range ops {
			cl.size += c.cfg.Size(op)
		}
	}
	var zero Resp
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return zero, c.cfg.Closed
	}
	select {
	case c.queue <- cl:
	case <-ctx.Done():
		c.mu.RUnlock()
		return zero, ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case <-cl.done:
		return cl.resp, cl.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// Close stops taking calls, fails those still queued, and waits for the
// batches in flight to be answered.
func (c *Coalescer[Op, Resp]) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	c.loop.Wait()
}

func (c *Coalescer[Op, Resp]) run() {
	defer c.loop.Done()
	slots := make(chan struct{}, c.cfg.Inflight)
	for {
		first := c.held
		c.held = nil
		if first == nil {
			select {
			case first = <-c.queue:
			case <-c.stop:
				c.failQueued(nil)
				return
			}
		}
		select {
		case slots <- struct{}{}:
		case <-c.stop:
			c.failQueued([]*call[Op, Resp]{first})
			return
		}
		c.lastMu.Lock()
		prev := c.last
		c.last = answered{}
		c.lastMu.Unlock()
		c.size = first.size
		batch, ops := c.drain([]*call[Op, Resp]{first}, append([]Op(nil), first.ops...))
		batch, ops, stopped := c.linger(prev, batch, ops)
		if stopped {
			c.failQueued(batch)
			return
		}
		sent := time.Now()
		wait := c.send(ops)
		c.loop.Go(func() {
			defer func() { <-slots }()
			resp, err := wait()
			// Counted before anyone is answered, so that a caller who
			// comes back at once is seen as coming back, not waiting.
			gen, now := c.answers.Add(1), time.Now()
			c.answer(batch, resp, err)
			c.lastMu.Lock()
			c.last = answered{ops: len(ops), gen: gen, at: now, roundTrip: now.Sub(sent)}
			c.lastMu.Unlock()
		})
	}
}

// add adds cl to the batch unless that would take it past MaxOps or
// MaxSize; then cl is held for the next batch and add reports the batch
// full. A call larger than the caps travels alone.
func (c *Coalescer[Op, Resp]) add(batch []*call[Op, Resp], ops []Op, cl *call[Op, Resp]) ([]*call[Op, Resp], []Op, bool) {
	if len(ops)+len(cl.ops) > c.cfg.MaxOps || (c.cfg.MaxSize > 0 && c.size+cl.size > c.cfg.MaxSize) {
		c.held = cl
		return batch, ops, false
	}
	c.size += cl.size
	return append(batch, cl), append(ops, cl.ops...), true
}

// drain adds the calls already queued, up to MaxOps.
func (c *Coalescer[Op, Resp]) drain(batch []*call[Op, Resp], ops []Op) ([]*call[Op, Resp], []Op) {
	for len(ops) < c.cfg.MaxOps {
		select {
		case cl := <-c.queue:
			var room bool
			if batch, ops, room = c.add(batch, ops, cl); !room {
				return batch, ops
			}
		default:
			return batch, ops
		}
	}
	return batch, ops
}

// linger adds the callers that prev answered as they come back.
func (c *Coalescer[Op, Resp]) linger(prev answered, batch []*call[Op, Resp], ops []Op) ([]*call[Op, Resp], []Op, bool) {
	if prev.ops == 0 || len(ops) >= c.cfg.MaxOps || c.held != nil {
		return batch, ops, false
	}
	deadline := prev.at.Add(min(prev.roundTrip, c.cfg.MaxLinger))
	if !time.Now().Before(deadline) {
		return batch, ops, false
	}
	waiting := 0
	for _, cl := range batch {
		if cl.gen < prev.gen {
			waiting += len(cl.ops)
		}
	}
	want := min(waiting+prev.ops, c.cfg.MaxOps)
	if len(ops) >= want {
		return batch, ops, false
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for len(ops) < want {
		select {
		case cl := <-c.queue:
			var room bool
			if batch, ops, room = c.add(batch, ops, cl); !room {
				return batch, ops, false
			}
		case <-t.C:
			return batch, ops, false
		case <-c.stop:
			return batch, ops, true
		}
	}
	return batch, ops, false
}

// answer hands each caller its share of a batch's outcome.
func (c *Coalescer[Op, Resp]) answer(batch []*call[Op, Resp], resp Resp, err error) {
	off := 0
	for _, cl := range batch {
		if err != nil {
			cl.err = err
		} else {
			cl.resp = c.split(resp, off, len(cl.ops))
			off += len(cl.ops)
		}
		close(cl.done)
	}
}

// failQueued fails held and queued calls at Close: none was sent. Once
// closed is set no call is queued, so the queue empties for good.
func (c *Coalescer[Op, Resp]) failQueued(held []*call[Op, Resp]) {
	if c.held != nil {
		held = append(held, c.held)
		c.held = nil
	}
	for _, cl := range held {
		cl.err = c.cfg.Closed
		close(cl.done)
	}
	for {
		select {
		case cl := <-c.queue:
			cl.err = c.cfg.Closed
			close(cl.done)
		default:
			return
		}
	}
}
