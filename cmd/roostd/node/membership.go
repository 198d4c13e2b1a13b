package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
)

// joinCheckTimeout bounds the question a restarting node with --join asks
// the cluster it names.
const joinCheckTimeout = 3 * time.Second

// checkJoin refuses to start a node whose data directory holds a cluster
// that is not the one --join names: a node that once bootstrapped on its
// own and is then told to join would otherwise go on leading a cluster of
// its own beside the real one, and clients pointed at it would see an
// empty database and write into it. It runs once the store is open and
// before anything serves.
func (n *Node) checkJoin(ctx context.Context) error {
	if !n.store.HadState() || len(n.cfg.Join) == 0 {
		return nil
	}
	servers, err := n.store.Servers()
	if err != nil {
		return fmt.Errorf("node: read this node's cluster: %w", err)
	}
	var local []string
	for _, s := range servers {
		local = append(local, s.ID)
	}
	slices.Sort(local)
	if len(local) == 1 && local[0] == n.cfg.NodeID {
		return n.splitError(local, "", nil)
	}
	// The cluster --join names must have this node as a member. A
	// cluster that cannot be asked (down, or a partition) is no reason to
	// keep a member from restarting.
	for _, addr := range n.cfg.Join {
		members, err := askMembers(ctx, addr, n.dialOptions())
		if err != nil {
			n.logger.Warn("could not ask a --join member whether this node belongs to its cluster", "peer", addr, "err", err)
			continue
		}
		if !slices.Contains(members, n.cfg.NodeID) {
			return n.splitError(local, addr, members)
		}
		return nil
	}
	return nil
}

func (n *Node) splitError(local []string, peer string, theirs []string) error {
	named := strings.Join(n.cfg.Join, ",")
	what := fmt.Sprintf("--join names %s", named)
	if peer != "" {
		slices.Sort(theirs)
		what = fmt.Sprintf("--join names %s, whose cluster has members %s and not this node", peer, strings.Join(theirs, ", "))
	}
	return fmt.Errorf("node %s: the data directory %s holds a cluster of its own (members %s), but %s: "+
		"starting would run two clusters side by side. To join that cluster, stop this node, move %s aside "+
		"and start again with --join; to keep this node's cluster, start it without --join",
		n.cfg.NodeID, n.cfg.DataDir, strings.Join(local, ", "), what, n.cfg.DataDir)
}

// askStatus asks the node at addr for its status.
func askStatus(ctx context.Context, addr string, opts []grpc.DialOption) (*roostv1.GetStatusResponse, error) {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, joinCheckTimeout)
	defer cancel()
	return statusOf(ctx, conn)
}

func statusOf(ctx context.Context, conn *grpc.ClientConn) (*roostv1.GetStatusResponse, error) {
	return roostv1.NewClusterServiceClient(conn).GetStatus(ctx, &roostv1.GetStatusRequest{})
}

// askMembers returns the member IDs of the cluster the node at addr is in.
func askMembers(ctx context.Context, addr string, opts []grpc.DialOption) ([]string, error) {
	st, err := askStatus(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, m := range st.Members {
		ids = append(ids, m.Id)
	}
	return ids, nil
}
