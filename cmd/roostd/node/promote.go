package node

import (
	"context"
	"time"
)

// Promotion: a non-voter that joined to be a voter is promoted once it
// has applied all but promoteSlack of the entries the leader had applied
// when it last asked, answered lately and hears from the leader.
const (
	promoteSlack      = 256
	promoteMaxContact = 2 * time.Second
)

// promote, on the leader, makes voters of the non-voters that joined to
// be voters (raftfsm.Store.Join) and have caught up, as the leader's
// member watch last saw them (watchHealth). A member that cannot be
// reached, or lags, stays a non-voter and never counts towards the
// quorum.
func (n *Node) promote(ctx context.Context) {
	if !n.store.IsLeader() {
		return
	}
	servers, err := n.store.Servers()
	if err != nil {
		return
	}
	for _, s := range servers {
		if s.Voter || !s.Promote {
			continue
		}
		h, ok := n.memberHealth(s.ID)
		if !ok || !h.Answered || h.SinceAnswer > promoteMaxContact || h.LastContact > promoteMaxContact || h.Behind > promoteSlack {
			continue
		}
		if err := n.store.PromoteReady(ctx, s.ID); err != nil {
			n.logger.Warn("promotion failed; will retry", "peer", s.ID, "err", err)
		}
	}
}
