package raftfsm

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftlogv1 "github.com/roost-mail/roost/proto/roost/raftlog/v1"
	"google.golang.org/protobuf/proto"
)

// TestLogFormatFollowsMembers: a leader writes batches in the Batch form
// until every member has declared that it reads Ops, so a cluster can be
// upgraded one node at a time; then in the Ops form. It takes operations
// confined to servers only once every member reads those, and then no
// node that reads less may join.
func TestLogFormatFollowsMembers(t *testing.T) {
	s, err := Open(Config{NodeID: "n1", Dir: t.TempDir(), RaftAddr: "127.0.0.1:0", Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.WaitLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	plain := []Op{activateOp("user.a", loc1, testACL), reserveOp("user.b", loc2)}
	confined := []Op{onlyOn(activateOp("user.a", loc1, testACL), "be01"), reserveOp("user.b", loc2)}
	// written applies ops as one entry and says in which form it was
	// written, or returns the error.
	written := func(ops []Op) (string, error) {
		t.Helper()
		resp, err := s.Apply(t.Context(), ops, true) // atomic: one entry, never coalesced away
		if err != nil {
			return "", err
		}
		var l raft.Log
		if err := s.logStore.GetLog(resp.Revision, &l); err != nil {
			t.Fatal(err)
		}
		var cmd raftlogv1.Command
		if err := proto.Unmarshal(l.Data[1:], &cmd); err != nil {
			t.Fatal(err)
		}
		switch cmd.Op.(type) {
		case *raftlogv1.Command_Ops:
			return "ops", nil
		case *raftlogv1.Command_ConfinedOps:
			return "confined ops", nil
		case *raftlogv1.Command_Batch:
			return "batch", nil
		}
		return "other", nil
	}
	check := func(when string, wantPlain, wantConfined string) {
		t.Helper()
		if got, err := written(plain); got != wantPlain || err != nil {
			t.Errorf("%s, the leader wrote %q (%v), want %s", when, got, err, wantPlain)
		}
		got, err := written(confined)
		if wantConfined == "" {
			if !errors.Is(err, ErrCannotConfine) {
				t.Errorf("%s, confined operations gave %q, %v, want ErrCannotConfine", when, got, err)
			}
		} else if got != wantConfined || err != nil {
			t.Errorf("%s, confined operations were written as %q (%v), want %s", when, got, err, wantConfined)
		}
	}
	check("with no member declaring a format", "batch", "")
	if err := s.Join(t.Context(), "n1", s.RaftAddr(), "127.0.0.1:1", LogFormatOps, true, true); err != nil {
		t.Fatal(err)
	}
	check("with every member reading Ops but not OnlyOn", "ops", "")
	if s.CanConfine() {
		t.Error("CanConfine() = true before every member reads confined operations")
	}
	if err := s.Join(t.Context(), "n1", s.RaftAddr(), "127.0.0.1:1", LogFormatOnlyOn, true, true); err != nil {
		t.Fatal(err)
	}
	check("with every member reading OnlyOn", "ops", "confined ops")
	if !s.CanConfine() {
		t.Error("CanConfine() = false once every member reads confined operations")
	}
	if err := s.Join(t.Context(), "n2", "127.0.0.1:1", "127.0.0.1:2", LogFormatOps, false, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("Join(a node reading format %d into a cluster writing %d) = %v, want ErrInvalid", LogFormatOps, LogFormatOnlyOn, err)
	}
	// A member rolled back to an older build says so, and is believed.
	if err := s.Join(t.Context(), "n1", s.RaftAddr(), "127.0.0.1:1", LogFormatOps, true, true); err != nil {
		t.Fatalf("Join(n1 re-declaring format %d) = %v, want nil error", LogFormatOps, err)
	}
	check("after a member went back to Ops", "ops", "")
	// Confined entries are in the log all the same: no new node that
	// cannot read them may join.
	if err := s.Join(t.Context(), "n3", "127.0.0.1:3", "127.0.0.1:4", LogFormatOps, false, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("Join(a node reading format %d after confined entries were written) = %v, want ErrInvalid", LogFormatOps, err)
	}
}
