package node

import (
	"context"
	"slices"
	"time"

	"github.com/roost-mail/roost/raftfsm"
)

// removedAfter is how long a node goes without a leader, or outside its
// own configuration, before it asks the other members whether it is still
// one of them.
const removedAfter = 3 * time.Second

// checkRemoved finds out whether this node has been removed from the
// cluster. A removed node need not ever receive the configuration that
// drops it (the leader stops replicating to it), so it would otherwise
// just see no leader, forever. It asks the members it knows of; when one
// answers with a membership without it, the node says so in its log and
// on /readyz, and refuses writes, until an operator adds it again.
func (n *Node) checkRemoved(ctx context.Context, leaderless time.Duration) {
	servers, err := n.store.Servers()
	if err != nil {
		return
	}
	inConfig := slices.ContainsFunc(servers, func(s raftfsm.ServerInfo) bool { return s.ID == n.cfg.NodeID })
	if inConfig && leaderless < removedAfter {
		if n.removed.Swap(false) {
			n.logger.Info("this node is a member again")
		}
		return
	}
	for _, s := range servers {
		if s.ID == n.cfg.NodeID {
			continue
		}
		addr, ok := n.store.FSM().Member(s.ID)
		if !ok || addr == "" {
			continue
		}
		members, err := askMembers(ctx, addr, n.dialOptions())
		if err != nil || len(members) == 0 {
			continue
		}
		removed := !slices.Contains(members, n.cfg.NodeID)
		if removed && !n.removed.Swap(true) {
			n.logger.Error("this node has been removed from the cluster; it serves no writes. "+
				"To bring it back, add it again (roostctl cluster join), or stop it and move its data directory aside",
				"asked", s.ID, "members", members)
		}
		if !removed && n.removed.Swap(false) {
			n.logger.Info("this node is a member again")
		}
		return
	}
}

// Removed reports whether the node has learnt that it is no longer a
// member of its cluster.
func (n *Node) Removed() bool { return n.removed.Load() }
