package raftfsm

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftlogv1 "github.com/roost-mail/roost/proto/roost/raftlog/v1"
	"google.golang.org/protobuf/proto"
)

// TestLogFormatFollowsMembers: a leader writes batches in the Batch form
// until every member has declared that it reads Ops, so a cluster can be
// upgraded one node at a time; then in the Ops form, with the servers
// operations are confined to once every member reads those.
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
	lastBatch := func() string {
		t.Helper()
		ops := []Op{onlyOn(activateOp("user.a", loc1, testACL), "be01"), reserveOp("user.b", loc2)}
		resp, err := s.Apply(t.Context(), ops, true) // atomic: one entry, never coalesced away
		if err != nil {
			t.Fatal(err)
		}
		var l raft.Log
		if err := s.bolt.GetLog(resp.Revision, &l); err != nil {
			t.Fatal(err)
		}
		var cmd raftlogv1.Command
		if err := proto.Unmarshal(l.Data[1:], &cmd); err != nil {
			t.Fatal(err)
		}
		switch x := cmd.Op.(type) {
		case *raftlogv1.Command_Ops:
			if len(x.Ops.OnlyOnCounts) > 0 {
				return "ops confined"
			}
			return "ops"
		case *raftlogv1.Command_Batch:
			return "batch"
		}
		return "other"
	}
	if got := lastBatch(); got != "batch" {
		t.Errorf("with no member declaring a format, the leader wrote %s, want batch", got)
	}
	if err := s.Join(t.Context(), "n1", s.RaftAddr(), "127.0.0.1:1", LogFormatOps, true); err != nil {
		t.Fatal(err)
	}
	if got := lastBatch(); got != "ops" {
		t.Errorf("with every member reading Ops but not OnlyOn, the leader wrote %s, want ops", got)
	}
	if err := s.Join(t.Context(), "n1", s.RaftAddr(), "127.0.0.1:1", LogFormatOnlyOn, true); err != nil {
		t.Fatal(err)
	}
	if got := lastBatch(); got != "ops confined" {
		t.Errorf("with every member reading OnlyOn, the leader wrote %s, want ops confined", got)
	}
}
