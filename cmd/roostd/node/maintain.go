package node

import (
	"context"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// maintain joins the cluster if this is a new node with --join, then keeps
// the node's gRPC address registered in the member directory (so others
// can forward to it when it leads) and its health status current.
func (n *Node) maintain(ctx context.Context) {
	defer n.wg.Done()
	if !n.store.HadState() && len(n.cfg.Join) > 0 {
		n.join(ctx)
	}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var leaderless, checked time.Time // since when no leader; last removal check
	for {
		if id, _ := n.store.Leader(); id != "" {
			leaderless = time.Time{}
		} else if leaderless.IsZero() {
			leaderless = time.Now()
		}
		if time.Since(checked) >= removedAfter {
			var d time.Duration
			if !leaderless.IsZero() {
				d = time.Since(leaderless)
			}
			n.checkRemoved(ctx, d)
			checked = time.Now()
		}
		n.register(ctx)
		n.promote(ctx)
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if n.Ready() {
			st = healthpb.HealthCheckResponse_SERVING
		}
		n.health.SetServingStatus("", st)
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// join asks the members named by --join, in turn, to add this node, until
// one does.
func (n *Node) join(ctx context.Context) {
	req := &roostv1.JoinRequest{Id: n.cfg.NodeID, RaftAddress: n.store.RaftAddr(),
		GrpcAddress: n.store.GRPCAddr(), Nonvoter: n.cfg.JoinAsNonvoter, LogFormat: raftfsm.LogFormat}
	backoff := 100 * time.Millisecond
	for {
		for _, addr := range n.cfg.Join {
			err := n.askJoin(ctx, addr, req)
			if err == nil {
				n.logger.Info("joined the cluster", "peer", addr)
				return
			}
			n.logger.Warn("join failed; will retry", "peer", addr, "err", err)
		}
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, 5*time.Second)
		case <-ctx.Done():
			return
		}
	}
}

func (n *Node) askJoin(ctx context.Context, addr string, req *roostv1.JoinRequest) error {
	conn, err := grpc.NewClient(addr, n.dialOptions()...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err = roostv1.NewClusterServiceClient(conn).Join(ctx, req)
	return err
}

// register makes sure the member directory has this node's gRPC address
// and the log format its build reads, once the node is a member and a
// leader is known. Restarting with a new address or build updates them.
func (n *Node) register(ctx context.Context) {
	want := raftfsm.Member{ID: n.cfg.NodeID, GRPCAddr: n.store.GRPCAddr(), LogFormat: raftfsm.LogFormat}
	if cur, ok := n.store.FSM().MemberInfo(n.cfg.NodeID); ok && cur == want {
		return
	}
	if id, _ := n.store.Leader(); id == "" {
		return
	}
	servers, err := n.store.Servers()
	if err != nil {
		return
	}
	for _, s := range servers {
		if s.ID != n.cfg.NodeID {
			continue
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req := &roostv1.JoinRequest{Id: s.ID, RaftAddress: s.RaftAddr, GrpcAddress: n.store.GRPCAddr(), Nonvoter: !s.Voter,
			LogFormat: raftfsm.LogFormat}
		if err := n.fwd.Join(ctx, req); err != nil {
			n.logger.Debug("registering gRPC address failed; will retry", "err", err)
		}
	}
}
