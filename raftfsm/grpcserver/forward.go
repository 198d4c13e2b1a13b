package grpcserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

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
	return &Forwarder{store: store, logger: logger, dialOpts: dialOpts, conns: map[string]*grpc.ClientConn{}}
}

// Close closes the connections to leaders.
func (f *Forwarder) Close() error {
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
	req := &roostv1.BatchRequest{Atomic: atomic, Operations: make([]*roostv1.Operation, len(ops))}
	for i, op := range ops {
		req.Operations[i] = opToProto(op)
	}
	resp, err := roostv1.NewMailboxServiceClient(conn).Batch(forwardContext(ctx), req)
	if err != nil {
		return nil, fromStatus(err)
	}
	out := &raftfsm.ApplyResponse{Revision: resp.Revision, Results: make([]raftfsm.Result, len(resp.Results))}
	for i, r := range resp.Results {
		out.Results[i] = resultFromProto(r)
	}
	return out, nil
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
