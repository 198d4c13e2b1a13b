package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// forwardedKey marks a call that a follower has already forwarded: the
// receiver serves it locally or refuses it, never forwards it again, so a
// stale view of the leader cannot bounce a write around the cluster.
const forwardedKey = "roost-forwarded"

func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

func forwardContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardedKey, "1")
}

const (
	// forwardInflight bounds the Batch calls in flight to the leader;
	// writes that arrive meanwhile share the next call.
	forwardInflight = 4
	// forwardMaxOps caps the operations of one coalesced call.
	forwardMaxOps = 4096
	// forwardTimeout bounds a coalesced call; the leader answers within
	// its own apply timeout.
	forwardTimeout = 30 * time.Second
	// maxMsgSize matches what the servers accept.
	maxMsgSize = 64 << 20
)

// Forwarder runs operations that need the leader: locally when this node
// leads, else through one gRPC call to the leader. During an election it
// waits, at most the store's LeaderWait, for a leader; if the leader it
// knew cannot be reached at all, it waits for the next one and tries once
// more (the call was never delivered, so this is still at most once).
// Concurrent writes share one Batch call. Safe for concurrent use.
type Forwarder struct {
	store    *raftfsm.Store // immutable
	logger   *slog.Logger   // immutable
	dialOpts []grpc.DialOption

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by gRPC address; protected by mu

	queue   chan *forwarded // to runBatcher
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	closing sync.Once
	wg      sync.WaitGroup // runBatcher and its senders
}

// forwarded is one caller's operations waiting to share a Batch call to
// the leader with other callers'.
type forwarded struct {
	ops  []raftfsm.Op
	resp *raftfsm.ApplyResponse // set before done is closed
	err  error                  // set before done is closed
	done chan struct{}
}

// NewForwarder returns a Forwarder for store. Connections to leaders are
// made with dialOpts (nil: plaintext).
func NewForwarder(store *raftfsm.Store, logger *slog.Logger, dialOpts ...grpc.DialOption) *Forwarder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(dialOpts) == 0 {
		dialOpts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	dialOpts = append(dialOpts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize)))
	ctx, cancel := context.WithCancel(context.Background())
	f := &Forwarder{store: store, logger: logger, dialOpts: dialOpts, conns: map[string]*grpc.ClientConn{},
		queue: make(chan *forwarded, forwardMaxOps), ctx: ctx, cancel: cancel}
	f.wg.Add(1)
	go f.runBatcher()
	return f
}

// Close stops forwarding, fails writes still queued, and closes the
// connections to leaders.
func (f *Forwarder) Close() error {
	f.closing.Do(f.cancel)
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, c := range f.conns {
		c.Close()
		delete(f.conns, addr)
	}
	return nil
}

// conn returns a connection to the leader id, waiting for one to be
// known, or nil when this node leads.
func (f *Forwarder) conn(ctx context.Context) (*grpc.ClientConn, string, error) {
	id, _, err := f.store.WaitLeader(ctx)
	if err != nil {
		return nil, "", err
	}
	if id == f.store.NodeID() {
		return nil, id, nil
	}
	addr, ok := f.store.FSM().Member(id)
	if !ok || addr == "" {
		// A new leader registers its address moments after it wins.
		wctx, cancel := context.WithTimeout(ctx, f.store.LeaderWait())
		addr, err = f.store.FSM().WaitMember(wctx, id)
		cancel()
		if err != nil {
			return nil, id, fmt.Errorf("%w: leader %s has not registered its gRPC address yet", raftfsm.ErrNoLeader, id)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, id, nil
	}
	c, err := grpc.NewClient(addr, f.dialOpts...)
	if err != nil {
		return nil, id, fmt.Errorf("grpcserver: dial leader %s at %s: %w", id, addr, err)
	}
	f.conns[addr] = c
	return c, id, nil
}

// do runs local when this node leads, else remote against the leader.
func (f *Forwarder) do(ctx context.Context, local func() error, remote func(*grpc.ClientConn) error) error {
	for attempt := 0; ; attempt++ {
		if f.store.IsLeader() {
			return local()
		}
		c, id, err := f.conn(ctx)
		if err != nil {
			return err
		}
		if c == nil {
			return local()
		}
		err = remote(c)
		if attempt > 0 || !unreachable(c, err) {
			return err
		}
		f.logger.Info("leader unreachable; waiting for the next one", "leader", id, "err", err)
		if _, werr := f.store.WaitNewLeader(ctx, id); werr != nil {
			return err
		}
	}
}

// unreachable reports a call that failed because no connection to the
// leader could be made, so it was never delivered.
func unreachable(c *grpc.ClientConn, err error) bool {
	if status.Code(err) != codes.Unavailable && !errors.Is(err, raftfsm.ErrNoLeader) {
		return false
	}
	switch c.GetState() {
	case connectivity.TransientFailure, connectivity.Connecting, connectivity.Idle:
		return true
	}
	return false
}

// Apply applies operations through the leader. Store errors come back as
// the same sentinels whichever node applied them.
func (f *Forwarder) Apply(ctx context.Context, ops []raftfsm.Op, atomic bool) (*raftfsm.ApplyResponse, error) {
	if f.store.IsLeader() {
		return f.store.Apply(ctx, ops, atomic)
	}
	if atomic {
		return f.applyNow(ctx, ops, true)
	}
	// Concurrent writes share one call to the leader, as they share one
	// log entry there.
	fw := &forwarded{ops: ops, done: make(chan struct{})}
	select {
	case f.queue <- fw:
	case <-f.ctx.Done():
		return nil, raftfsm.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-fw.done:
		return fw.resp, fw.err
	case <-ctx.Done():
		// The operations may still be applied; the caller gave up.
		return nil, ctx.Err()
	}
}

// applyNow applies operations through the leader in one call.
func (f *Forwarder) applyNow(ctx context.Context, ops []raftfsm.Op, atomic bool) (*raftfsm.ApplyResponse, error) {
	var resp *raftfsm.ApplyResponse
	err := f.do(ctx, func() error {
		var err error
		resp, err = f.store.Apply(ctx, ops, atomic)
		return err
	}, func(c *grpc.ClientConn) error {
		var err error
		resp, err = forwardBatch(ctx, c, ops, atomic)
		return err
	})
	return resp, err
}

// forwardBatch sends operations to the leader in one Batch call.
func forwardBatch(ctx context.Context, conn *grpc.ClientConn, ops []raftfsm.Op, atomic bool) (*raftfsm.ApplyResponse, error) {
	req := &roostv1.BatchRequest{Atomic: atomic, Operations: make([]*roostv1.Operation, len(ops))}
	for i, op := range ops {
		req.Operations[i] = opToProto(op)
	}
	resp, err := roostv1.NewMailboxServiceClient(conn).Batch(forwardContext(ctx), req)
	if err != nil {
		return nil, fromStatus(err)
	}
	if len(resp.Results) != len(ops) {
		return nil, fmt.Errorf("grpcserver: leader answered %d results for %d operations", len(resp.Results), len(ops))
	}
	out := &raftfsm.ApplyResponse{Revision: resp.Revision, Results: make([]raftfsm.Result, len(resp.Results))}
	for i, r := range resp.Results {
		out.Results[i] = resultFromProto(r)
	}
	return out, nil
}

// runBatcher coalesces forwarded writes into Batch calls, at most
// forwardInflight at a time.
func (f *Forwarder) runBatcher() {
	defer f.wg.Done()
	slots := make(chan struct{}, forwardInflight)
	for {
		var first *forwarded
		select {
		case first = <-f.queue:
		case <-f.ctx.Done():
			f.failQueued()
			return
		}
		select {
		case slots <- struct{}{}:
		case <-f.ctx.Done():
			finish([]*forwarded{first}, nil, raftfsm.ErrClosed)
			f.failQueued()
			return
		}
		batch, ops := []*forwarded{first}, append([]raftfsm.Op(nil), first.ops...)
	drain:
		for len(ops) < forwardMaxOps {
			select {
			case fw := <-f.queue:
				batch, ops = append(batch, fw), append(ops, fw.ops...)
			default:
				break drain
			}
		}
		f.wg.Go(func() {
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(f.ctx, forwardTimeout)
			defer cancel()
			resp, err := f.applyNow(ctx, ops, false)
			finish(batch, resp, err)
		})
	}
}

// failQueued fails the writes still queued at Close: none was sent.
func (f *Forwarder) failQueued() {
	for {
		select {
		case fw := <-f.queue:
			finish([]*forwarded{fw}, nil, raftfsm.ErrClosed)
		default:
			return
		}
	}
}

// finish hands each caller its share of a coalesced call's results.
func finish(batch []*forwarded, resp *raftfsm.ApplyResponse, err error) {
	off := 0
	for _, fw := range batch {
		if err != nil {
			fw.err = err
		} else {
			fw.resp = &raftfsm.ApplyResponse{Revision: resp.Revision, Results: resp.Results[off : off+len(fw.ops)]}
			off += len(fw.ops)
		}
		close(fw.done)
	}
}

// ReadIndex returns the index a consistent read must see, asking the
// leader if need be, and waits until the local state has reached it.
func (f *Forwarder) ReadIndex(ctx context.Context) error {
	var idx uint64
	err := f.do(ctx, func() error {
		var err error
		idx, err = f.store.ReadIndex(ctx)
		return err
	}, func(c *grpc.ClientConn) error {
		resp, err := roostv1.NewClusterServiceClient(c).ReadIndex(forwardContext(ctx), &roostv1.ReadIndexRequest{})
		if err != nil {
			return fromStatus(err)
		}
		idx = resp.CommitIndex
		return nil
	})
	if err != nil {
		return err
	}
	return f.store.WaitApplied(ctx, idx)
}

// Join adds or updates a member through the leader.
func (f *Forwarder) Join(ctx context.Context, req *roostv1.JoinRequest) error {
	return f.call(ctx, func(ctx context.Context) error {
		return f.store.Join(ctx, req.Id, req.RaftAddress, req.GrpcAddress, !req.Nonvoter)
	}, func(ctx context.Context, c roostv1.ClusterServiceClient) error {
		_, err := c.Join(ctx, req)
		return err
	})
}

// call runs local on the leader, or remote on the leader's ClusterService.
func (f *Forwarder) call(ctx context.Context, local func(context.Context) error,
	remote func(context.Context, roostv1.ClusterServiceClient) error) error {
	return f.do(ctx, func() error { return local(ctx) }, func(c *grpc.ClientConn) error {
		return remote(forwardContext(ctx), roostv1.NewClusterServiceClient(c))
	})
}
