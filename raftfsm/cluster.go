package raftfsm

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// ServerInfo describes one member of the Raft configuration.
type ServerInfo struct {
	ID       string
	RaftAddr string
	GRPCAddr string // empty until the node has registered it
	// LogFormat is the newest log format the node's build reads, as it
	// registered it; 0 until then.
	LogFormat uint32
	Voter     bool
	Leader    bool
	// Promote: a non-voter the leader will promote once it has caught
	// up (Store.Join).
	Promote bool
}

// Status is this node's view of the cluster.
type Status struct {
	NodeID       string
	State        raft.RaftState
	LeaderID     string
	LeaderAddr   string
	LeaderGRPC   string
	Term         uint64
	AppliedIndex uint64
	CommitIndex  uint64
	LastLogIndex uint64
	LastContact  time.Duration // zero on the leader or before any contact
	Revision     uint64
	Mailboxes    int
	Servers      []ServerInfo
}

// Status returns this node's view of the cluster.
func (s *Store) Status() (Status, error) {
	st := Status{
		NodeID:       s.cfg.NodeID,
		State:        s.raft.State(),
		AppliedIndex: s.raft.AppliedIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		LastLogIndex: s.raft.LastIndex(),
		Revision:     s.fsm.Revision(),
		Mailboxes:    s.fsm.Len(),
	}
	st.LeaderID, st.LeaderAddr = s.Leader()
	st.LeaderGRPC, _ = s.fsm.Member(st.LeaderID)
	st.Term, _ = strconv.ParseUint(s.raft.Stats()["term"], 10, 64)
	if lc := s.raft.LastContact(); !lc.IsZero() && st.State != raft.Leader {
		st.LastContact = time.Since(lc)
	}
	servers, err := s.Servers()
	st.Servers = servers
	return st, err
}

// Servers returns the members of the current Raft configuration.
func (s *Store) Servers() ([]ServerInfo, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, s.raftError(err)
	}
	leaderID, _ := s.Leader()
	var out []ServerInfo
	for _, srv := range f.Configuration().Servers {
		id := string(srv.ID)
		m, _ := s.fsm.MemberInfo(id)
		voter := srv.Suffrage == raft.Voter
		out = append(out, ServerInfo{ID: id, RaftAddr: string(srv.Address), GRPCAddr: m.GRPCAddr, LogFormat: m.LogFormat,
			Voter: voter, Leader: id == leaderID, Promote: m.Promote && !voter})
	}
	return out, nil
}

// Join adds a node, or updates it. It is idempotent: a member already
// present at the same address keeps its place. A new node asked for as a
// voter joins as a non-voter and is promoted by the leader once it has
// caught up (PromoteReady), so that an unreachable or lagging node never
// counts towards the quorum; with now, it becomes a voter at once. A
// non-voter asked for as a voter is promoted the same way. grpcAddr, if
// given, is recorded in the member directory with logFormat, the newest
// log format the node's build reads. Leader only.
func (s *Store) Join(ctx context.Context, id, raftAddr, grpcAddr string, logFormat uint32, voter, now bool) error {
	if id == "" || raftAddr == "" {
		return fmt.Errorf("%w: join needs a node ID and a raft address", ErrInvalid)
	}
	if !s.IsLeader() {
		return s.notLeader()
	}
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	// A new node whose build reads less than the members write, or than
	// entries already written, would stop on the first entry it cannot
	// read. (0: not declared, as when an operator adds a node by its Raft
	// address; it declares itself once it runs.) A member re-declaring,
	// even a lower format after a rollback, is recorded as it says, so
	// that the leader writes what it reads from then on.
	member := slices.ContainsFunc(servers, func(srv ServerInfo) bool { return srv.ID == id })
	if need := max(s.logFormat(), s.fsm.WrittenFormat()); !member && logFormat != 0 && logFormat < need {
		return fmt.Errorf("%w: %s reads log format %d, but the cluster writes format %d: upgrade its build first", ErrInvalid, id, logFormat, need)
	}
	present, isVoter := false, false
	for _, srv := range servers {
		switch {
		case srv.ID == id && srv.RaftAddr == raftAddr:
			present, isVoter = true, srv.Voter
		case srv.ID == id || srv.RaftAddr == raftAddr:
			// Same ID at a new address, or a new ID at an old address:
			// the old member must go first.
			if err := s.raft.RemoveServer(raft.ServerID(srv.ID), 0, s.cfg.ApplyTimeout).Error(); err != nil {
				return fmt.Errorf("raftfsm: remove stale member %s: %w", srv.ID, s.raftError(err))
			}
		}
	}
	var f raft.IndexFuture
	switch {
	case isVoter:
	case voter && now:
		f = s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, s.cfg.ApplyTimeout)
	case !present:
		f = s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, s.cfg.ApplyTimeout)
	}
	if f != nil {
		if err := f.Error(); err != nil {
			return fmt.Errorf("raftfsm: add %s: %w", id, s.raftError(err))
		}
		s.logger.Info("member joined", "peer", id, "raft_addr", raftAddr, "voter", voter && now, "promote", voter && !now)
	}
	cur, known := s.fsm.MemberInfo(id)
	want := cur
	want.ID = id
	if grpcAddr != "" {
		want.GRPCAddr, want.LogFormat = grpcAddr, logFormat
	}
	// Only a promotion clears Promote: a member registering its address
	// as the non-voter it still is must not cancel its own promotion.
	want.Promote = (cur.Promote || voter) && !isVoter && !(voter && now)
	if !known || cur != want {
		return s.SetMember(ctx, want)
	}
	return nil
}

// PromoteReady promotes the non-voter id to a voter, as Join asked for,
// and records that it was. The caller (the node, on the leader) has found
// it caught up. Leader only.
func (s *Store) PromoteReady(ctx context.Context, id string) error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(servers, func(srv ServerInfo) bool { return srv.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %q is not a member", ErrUnknownMember, id)
	}
	if !servers[i].Voter {
		if err := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(servers[i].RaftAddr), 0, s.cfg.ApplyTimeout).Error(); err != nil {
			return fmt.Errorf("raftfsm: promote %s: %w", id, s.raftError(err))
		}
		s.logger.Info("member promoted to voter, having caught up", "peer", id)
	}
	m, _ := s.fsm.MemberInfo(id)
	if !m.Promote {
		return nil
	}
	m.Promote = false
	return s.SetMember(ctx, m)
}

// logFormat returns the newest log format every member reads, which the
// leader may write: a member whose build predates a format would stop on
// its first entry (Ops, ConfinedOps). Raft hands out its configuration
// without a round trip through its loop, so this is cheap enough for
// every entry.
func (s *Store) logFormat() uint32 {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	return s.fsm.readFormat(f.Configuration().Servers)
}

// CanConfine reports whether every member reads operations confined to
// servers (Op.OnlyOn), so that the store takes them. On a follower it
// answers from its own copy of the configuration and member directory.
func (s *Store) CanConfine() bool { return s.logFormat() >= LogFormatOnlyOn }

// CheckConfine returns ErrCannotConfine if ops holds an operation
// confined to servers while not every member reads such operations
// (CanConfine): nothing of ops may then be proposed, or forwarded.
func (s *Store) CheckConfine(ops []Op) error {
	if slices.ContainsFunc(ops, Op.Confined) && !s.CanConfine() {
		return ErrCannotConfine
	}
	return nil
}

// SetMember records a member's gRPC address. Leader only.
func (s *Store) SetMember(ctx context.Context, m Member) error {
	data, err := encodeSetMember(m)
	if err != nil {
		return err
	}
	return s.applyControl(data)
}

// Remove takes a node out of the cluster and forgets its address. Leader
// only. Removing an unknown node is an error.
func (s *Store) Remove(ctx context.Context, id string) error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	found := false
	for _, srv := range servers {
		found = found || srv.ID == id
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	if err := s.raft.RemoveServer(raft.ServerID(id), 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("raftfsm: remove %s: %w", id, s.raftError(err))
	}
	s.logger.Info("member removed", "peer", id)
	if id == s.cfg.NodeID {
		// A leader that removed itself steps down; the directory entry
		// is left for the next leader to tidy.
		return nil
	}
	data, err := encodeRemoveMember(id)
	if err != nil {
		return err
	}
	return s.applyControl(data)
}

func (s *Store) applyControl(data []byte) error {
	f := s.raft.Apply(data, s.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return s.raftError(err)
	}
	return nil
}

// TransferLeadership hands leadership to the voter id, or to the most
// up-to-date voter when id is empty, and returns the new leader's ID.
func (s *Store) TransferLeadership(ctx context.Context, id string) (string, error) {
	if !s.IsLeader() {
		return "", s.notLeader()
	}
	var f raft.Future
	if id == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		servers, err := s.Servers()
		if err != nil {
			return "", err
		}
		addr := ""
		for _, srv := range servers {
			if srv.ID == id && srv.Voter {
				addr = srv.RaftAddr
			}
		}
		if addr == "" {
			return "", fmt.Errorf("%w: %q is not a voter", ErrUnknownMember, id)
		}
		f = s.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
	}
	if err := f.Error(); err != nil {
		return "", fmt.Errorf("leadership transfer: %w", s.raftError(err))
	}
	leader, _, err := s.WaitLeader(ctx)
	return leader, err
}

// ReadIndex confirms that this node still leads and that its state holds
// every committed entry, and returns the index a consistent read must see.
// Leader only.
func (s *Store) ReadIndex(ctx context.Context) (uint64, error) {
	if !s.IsLeader() {
		return 0, s.notLeader()
	}
	if err := s.raft.VerifyLeader().Error(); err != nil {
		return 0, s.raftError(err)
	}
	// The barrier waits until everything committed so far is applied.
	if err := s.raft.Barrier(s.cfg.ApplyTimeout).Error(); err != nil {
		return 0, s.raftError(err)
	}
	idx, _ := s.fsm.appliedIndex()
	return idx, nil
}

// WaitApplied waits until the local state holds the entry at index.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	return s.fsm.waitIndex(ctx, index, s.closing)
}

// RestoreSnapshot replaces the whole database, on every node, with a
// snapshot read from r. The snapshot is staged in a file and checked in
// full first, so a damaged one is refused and changes nothing. Leader only.
func (s *Store) RestoreSnapshot(ctx context.Context, r io.Reader) (*View, error) {
	if !s.IsLeader() {
		return nil, s.notLeader()
	}
	tmp, err := os.CreateTemp(s.cfg.Dir, "restore-*.snap")
	if err != nil {
		return nil, fmt.Errorf("raftfsm: stage snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	size, err := io.Copy(tmp, r)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: stage snapshot: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	st, err := readSnapshot(tmp)
	if err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: st.revision, Size: size}
	if err := s.raft.Restore(meta, tmp, s.cfg.ApplyTimeout); err != nil {
		return nil, fmt.Errorf("raftfsm: restore: %w", s.raftError(err))
	}
	s.logger.Info("restored snapshot into the cluster", "index", st.revision, "mailboxes", st.tab.len())
	return s.fsm.View(), nil
}
