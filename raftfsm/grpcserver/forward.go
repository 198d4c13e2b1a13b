package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// forwardedKey marks a call that a follower has already forwarded: the
// receiver serves it locally or refuses it, never forwards it again, so a
// stale view of the leader cannot bounce a write around the cluster.
const forwardedKey = "roost-forwarded"

func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

// Forwarder runs operations that need the leader: locally when this node
// leads, else through one gRPC call to the leader. During an election it
// waits, at most the store's LeaderWait, for a leader. Safe for concurrent
// use.
type Forwarder struct {
	store    *raftfsm.Store // immutable
	logger   *slog.Logger   // immutable
	dialOpts []grpc.DialOption

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by gRPC address; protected by mu

	queue     chan *forwarded // to runBatcher
	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // runBatcher and its senders
}

// forwarded is one caller's operations waiting to share a Batch call to
// the leader with other callers'.
type forwarded struct {
	ops  []raftfsm.Op
	resp *raftfsm.ApplyResponse // set before done is closed
	err  error                  // set before done is closed
	done chan struct{}
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
)

// NewForwarder returns a Forwarder for store. Connections to leaders are
// made with dialOpts (nil: plaintext).
func NewForwarder(store *raftfsm.Store, logger *slog.Logger, dialOpts ...grpc.DialOption) *Forwarder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(dialOpts) == 0 {
		dialOpts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	f := &Forwarder{store: store, logger: logger, dialOpts: dialOpts, conns: map[string]*grpc.ClientConn{},
		queue: make(chan *forwarded, forwardMaxOps), closing: make(chan struct{})}
	f.wg.Add(1)
	go f.runBatcher()
	return f
}

// Close stops forwarding and closes the connections to leaders.
func (f *Forwarder) Close() error {
	f.closeOnce.Do(func() { close(f.closing) })
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for addr, c := range f.conns {
		c.Close()
		delete(f.conns, addr)
	}
	return nil
}

// leader waits for a leader and returns a connection to it, or nil when
// this node leads.
func (f *Forwarder) leader(ctx context.Context) (*grpc.ClientConn, error) {
	id, _, err := f.store.WaitLeader(ctx)
	if err != nil {
		return nil, err
	}
	if id == f.store.NodeID() {
		return nil, nil
	}
	addr, ok := f.store.FSM().Member(id)
	if !ok || addr == "" {
		return nil, fmt.Errorf("%w: leader %s has not registered its gRPC address yet", raftfsm.ErrNoLeader, id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, f.dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("grpcserver: dial leader %s at %s: %w", id, addr, err)
	}
	f.conns[addr] = c
	return c, nil
}

func forwardContext(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, forwardedKey, "1")
}

// Apply applies operations through the leader. Store errors come back as
// the same sentinels whichever node applied them.
func (f *Forwarder) Apply(ctx context.Context, ops []raftfsm.Op, atomic bool) (*raftfsm.ApplyResponse, error) {
	if f.store.IsLeader() {
		return f.store.Apply(ctx, ops, atomic)
	}
	conn, err := f.leader(ctx)
	if err != nil {
		return nil, err
	}
	if conn == nil {
		return f.store.Apply(ctx, ops, atomic)
	}
	if atomic {
		return forwardBatch(ctx, conn, ops, true)
	}
	// Concurrent writes share one call to the leader, as they share one
	// log entry there.
	fw := &forwarded{ops: ops, done: make(chan struct{})}
	select {
	case f.queue <- fw:
	case <-f.closing:
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
		case <-f.closing:
			return
		}
		select {
		case slots <- struct{}{}:
		case <-f.closing:
			finish([]*forwarded{first}, nil, raftfsm.ErrClosed)
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
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
			defer cancel()
			conn, err := f.leader(ctx)
			var resp *raftfsm.ApplyResponse
			switch {
			case err != nil:
			case conn == nil: // this node has become the leader
				resp, err = f.store.Apply(ctx, ops, false)
			default:
				resp, err = forwardBatch(ctx, conn, ops, false)
			}
			finish(batch, resp, err)
		}()
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
	idx, err := f.readIndex(ctx)
	if err != nil {
		return err
	}
	return f.store.WaitApplied(ctx, idx)
}

func (f *Forwarder) readIndex(ctx context.Context) (uint64, error) {
	if f.store.IsLeader() {
		return f.store.ReadIndex(ctx)
	}
	conn, err := f.leader(ctx)
	if err != nil {
		return 0, err
	}
	if conn == nil {
		return f.store.ReadIndex(ctx)
	}
	resp, err := roostv1.NewClusterServiceClient(conn).ReadIndex(forwardContext(ctx), &roostv1.ReadIndexRequest{})
	if err != nil {
		return 0, fromStatus(err)
	}
	return resp.CommitIndex, nil
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
	if f.store.IsLeader() {
		return local(ctx)
	}
	conn, err := f.leader(ctx)
	if err != nil {
		return err
	}
	if conn == nil {
		return local(ctx)
	}
	return remote(forwardContext(ctx), roostv1.NewClusterServiceClient(conn))
}
