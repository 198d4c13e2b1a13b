package grpcserver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
)

// silentLeader is a leader's gRPC endpoint that takes Batch calls and
// never answers them, like a leader cut off by a partition that drops
// packets.
type silentLeader struct {
	roostv1.UnimplementedMailboxServiceServer
	got chan struct{}
}

func (s *silentLeader) Batch(ctx context.Context, _ *roostv1.BatchRequest) (*roostv1.BatchResponse, error) {
	s.got <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func openStore(t testing.TB, id string, bootstrap bool) *raftfsm.Store {
	t.Helper()
	st, err := raftfsm.Open(raftfsm.Config{NodeID: id, Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Bootstrap: bootstrap,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("raftfsm.Open(%s) = %v", id, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Store(%s).Close() = %v, want nil", id, err)
		}
	})
	return st
}

// standInLeader starts a two-node cluster, a leading and b following,
// whose leader b reaches over gRPC at srv, and which records a as reading
// log format format.
func standInLeader(t *testing.T, srv roostv1.MailboxServiceServer, format uint32) (a, b *raftfsm.Store) {
	t.Helper()
	g := grpc.NewServer((&Authenticator{}).ServerOptions()...)
	roostv1.RegisterMailboxServiceServer(g, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(g.Stop)

	a = openStore(t, "a", true)
	waitFor(t, "a to lead", a.IsLeader)
	b = openStore(t, "b", false)
	ctx := testContext(t)
	if err := a.Join(ctx, "b", b.RaftAddr(), "", raftfsm.LogFormat, true, true); err != nil {
		t.Fatal(err)
	}
	if err := a.SetMember(ctx, raftfsm.Member{ID: "a", GRPCAddr: lis.Addr().String(), LogFormat: format}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to know a's address", func() bool {
		m, ok := b.FSM().MemberInfo("a")
		id, _ := b.Leader()
		return ok && m.GRPCAddr == lis.Addr().String() && m.LogFormat == format && id == "a"
	})
	return a, b
}

// TestForwardGivesUpOnDeposedLeader: a forwarded write held by a leader
// that never answers ends once another leader has been elected (after
// deposedGrace), with an unknown outcome and no retry, and the next write
// goes to the new leader instead of queueing behind the silent one.
func TestForwardGivesUpOnDeposedLeader(t *testing.T) {
	// a's gRPC address, as b will see it, is the endpoint that never
	// answers.
	silent := &silentLeader{got: make(chan struct{}, 1)}
	a, b := standInLeader(t, silent, 0)
	ctx := testContext(t)

	fwd := NewForwarder(b, nil)
	t.Cleanup(func() { fwd.Close() })
	op := []raftfsm.Op{{Kind: raftfsm.OpActivate, Name: "user.held", Location: "be1!p"}}
	done := make(chan error, 1)
	go func() {
		_, err := fwd.Apply(context.Background(), op, false)
		done <- err
	}()
	select {
	case <-silent.got:
	case <-time.After(waitTimeout):
		t.Fatal("the forwarded write never reached a")
	}
	if _, err := a.TransferLeadership(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, raftfsm.ErrUnknownOutcome) {
			t.Errorf("held write = %v, want an unknown outcome", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the write held by the deposed leader did not end when b was elected")
	}
	if _, err := fwd.Apply(ctx, []raftfsm.Op{{Kind: raftfsm.OpActivate, Name: "user.next", Location: "be1!p"}}, false); err != nil {
		t.Errorf("write after the new election = %v, want nil", err)
	}
	if m, _ := b.FSM().Get("user.next"); m == nil {
		t.Error("user.next missing on the new leader")
	}
}

// oldLeader is a leader's gRPC endpoint whose build predates confined
// operations: it applies every operation of a Batch, ignoring
// only_on_servers.
type oldLeader struct {
	roostv1.UnimplementedMailboxServiceServer
	calls chan struct{}
}

func (o *oldLeader) Batch(_ context.Context, req *roostv1.BatchRequest) (*roostv1.BatchResponse, error) {
	o.calls <- struct{}{}
	resp := &roostv1.BatchResponse{Revision: 1}
	for range req.Operations {
		resp.Results = append(resp.Results, &roostv1.OperationResult{Status: roostv1.OperationStatus_OPERATION_STATUS_OK})
	}
	return resp, nil
}

// TestForwardRefusesConfinedToAnOldLeader: a follower does not forward
// operations confined to servers to a leader that cannot read them, which
// would apply them unconfined and answer OK.
func TestForwardRefusesConfinedToAnOldLeader(t *testing.T) {
	old := &oldLeader{calls: make(chan struct{}, 8)}
	_, b := standInLeader(t, old, raftfsm.LogFormatOps)
	ctx := testContext(t)
	fwd := NewForwarder(b, nil)
	t.Cleanup(func() { fwd.Close() })
	confined := raftfsm.Op{Kind: raftfsm.OpDelete, Name: "user.jane", OnlyOn: []string{"be1"}}
	if _, err := fwd.Apply(ctx, []raftfsm.Op{confined}, false); !errors.Is(err, raftfsm.ErrCannotConfine) {
		t.Errorf("Apply(confined) through b = %v, want ErrCannotConfine", err)
	}
	// Plain operations still go to the leader.
	if _, err := fwd.Apply(ctx, []raftfsm.Op{{Kind: raftfsm.OpDelete, Name: "user.jane"}}, false); err != nil {
		t.Errorf("Apply(plain) through b = %v, want nil", err)
	}
	if n := len(old.calls); n != 1 {
		t.Errorf("the old leader got %d calls, want 1 (the plain one)", n)
	}
}
