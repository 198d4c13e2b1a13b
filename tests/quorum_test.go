package tests

import (
	"context"
	"errors"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestNoQuorumFailsPromptly: a node cut off from its quorum refuses
// writes with Unavailable within the leader wait, instead of hanging
// (Cyrus clients have no read timeout), and the refused write is not
// applied once the quorum is back.
func TestNoQuorumFailsPromptly(t *testing.T) {
	ctx := context.Background()
	nodes := startThree(t, "q", false)
	n1 := nodes[0]
	if err := write(ctx, n1, "user.before", "be1!", ""); err != nil {
		t.Fatal(err)
	}
	left := leaderOf(nodes)
	for _, tn := range nodes {
		if tn != left {
			tn.stop(t)
		}
	}
	waitFor(t, left.id+" to step down", 10*time.Second, func() error {
		if left.n.Store().IsLeader() {
			return errors.New("still leader")
		}
		return nil
	})
	start := time.Now()
	_, err := left.mailboxes().Activate(ctx, &roostv1.ActivateRequest{Name: []byte("user.refused"), Location: []byte("be1!")})
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Activate without quorum: %v, want Unavailable", err)
	}
	if limit := fastStore().LeaderWait + 3*time.Second; took > limit {
		t.Errorf("Activate without quorum took %v, want under %v", took, limit)
	}
	for _, tn := range nodes {
		if tn != left {
			startNode(t, tn, nil, false)
		}
	}
	for _, tn := range nodes {
		// Every node, not only the one that stayed: the restarted ones
		// are checked below.
		catchUp(t, nodes, tn)
	}
	for _, tn := range nodes {
		if m, _ := tn.n.Store().FSM().Get("user.refused"); m != nil {
			t.Errorf("%s has the refused write: %+v", tn.id, m)
		}
		if m, _ := tn.n.Store().FSM().Get("user.before"); m == nil {
			t.Errorf("%s lost user.before", tn.id)
		}
	}
}
