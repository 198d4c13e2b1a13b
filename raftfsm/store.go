package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/roost-mail/roost/raftfsm/internal/coalesce"
	"github.com/roost-mail/roost/raftfsm/internal/hclogslog"
)

// Raft's timing defaults (see Config.HeartbeatTimeout).
const (
	DefaultHeartbeatTimeout   = 400 * time.Millisecond
	DefaultElectionTimeout    = 400 * time.Millisecond
	DefaultLeaderLeaseTimeout = 200 * time.Millisecond
)

// Config configures a Store. Zero durations and sizes mean the defaults
// given per field.
type Config struct {
	// NodeID names this node in the cluster; required and permanent.
	NodeID string
	// Dir holds the Raft log and stable store (wal/ or raft.db) and
	// snapshots/; required.
	Dir string
	// RaftStore chooses the log and stable store of a new directory. A
	// directory that holds one keeps it, and naming another is refused
	// (ErrStoreMismatch; ConvertStore converts). The zero value,
	// RaftStoreAuto, means the store the directory holds, else raft-wal.
	RaftStore RaftStore
	// RaftAddr is the address the Raft transport listens on; required.
	RaftAddr string
	// RaftAdvertise is the address other nodes dial; empty means the
	// address the transport listens on, which must then not be a wildcard
	// address.
	RaftAdvertise string
	// GRPCAddr is this node's gRPC address as other nodes dial it. It is
	// recorded in the member directory so followers can forward writes
	// here while this node leads. May be empty in tests of the store alone.
	GRPCAddr string
	// Bootstrap makes this node the first voter of a new cluster if its
	// directory holds no Raft state yet; otherwise it is ignored.
	Bootstrap bool

	// Raft timing: defaults 400ms, 400ms, 200ms, and 5ms for
	// CommitTimeout (how long a follower may wait to learn a commit index
	// with no new entries; short because followers serve reads).
	//
	// A follower starts an election once it has heard nothing from the
	// leader for HeartbeatTimeout, checked at random intervals of one to
	// two timeouts, so a dead leader is replaced within one to three
	// timeouts: 400ms keeps that under 1.5s. Heartbeats go every tenth of
	// it on a path of their own that no disk sync or busy log delays, so
	// the heaviest load does not make followers time out. ElectionTimeout
	// only bounds a candidate's wait for votes; LeaderLeaseTimeout is how
	// long a leader cut off from a quorum keeps taking writes before it
	// steps down.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration

	// SnapshotThreshold: snapshot after this many new entries (8192).
	SnapshotThreshold uint64
	// SnapshotInterval: how often to check the threshold (30s).
	SnapshotInterval time.Duration
	// TrailingLogs: entries kept after a snapshot so slow followers can
	// catch up without one (10240).
	TrailingLogs uint64
	// RetainSnapshots: snapshots kept on disk (2).
	RetainSnapshots int
	// HistorySize: recent changes kept for watchers (DefaultHistorySize).
	HistorySize int

	// ApplyTimeout bounds how long a write waits to be committed before it
	// fails, e.g. without a quorum (10s).
	ApplyTimeout time.Duration
	// LeaderWait bounds how long an operation that needs a leader waits
	// for one during an election (5s).
	LeaderWait time.Duration
	// MaxInflight: proposals in flight at once; writes that arrive
	// meanwhile are coalesced into the next log entry (1: measured best
	// when the nodes share a disk; more can help with a disk per node).
	MaxInflight int
	// MaxBatchOps caps the operations coalesced into one entry (4096).
	MaxBatchOps int

	// RaftTLS, if not nil, makes the Raft transport speak TLS, with
	// both sides verifying the other. Nil means plain TCP.
	RaftTLS *RaftTLS
	// Logger receives the store's and raft's logs; nil discards.
	Logger *slog.Logger
	// Metrics, if not nil, is told about every write.
	Metrics Metrics
}

// Metrics receives measurements of the write path. Implementations must be
// safe for concurrent use and must not block.
type Metrics interface {
	// ObserveApply: a call to Apply with ops operations took d; err is
	// its error.
	ObserveApply(ops int, d time.Duration, err error)
	// ObserveEntry: a log entry carrying ops operations was proposed.
	ObserveEntry(ops int)
}

type noMetrics struct{}

func (noMetrics) ObserveApply(int, time.Duration, error) {}
func (noMetrics) ObserveEntry(int)                       {}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&c.ElectionTimeout, DefaultElectionTimeout)
	def(&c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	def(&c.CommitTimeout, 5*time.Millisecond)
	def(&c.SnapshotInterval, 30*time.Second)
	def(&c.ApplyTimeout, 10*time.Second)
	def(&c.LeaderWait, 5*time.Second)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.RetainSnapshots == 0 {
		c.RetainSnapshots = 2
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 1
	}
	if c.MaxBatchOps == 0 {
		c.MaxBatchOps = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
}

// Validate reports configuration mistakes.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("raftfsm: node ID is required")
	case c.Dir == "":
		return errors.New("raftfsm: data directory is required")
	case c.RaftAddr == "":
		return errors.New("raftfsm: raft address is required")
	}
	adv := c.RaftAdvertise
	if adv == "" {
		adv = c.RaftAddr
	}
	host, _, err := net.SplitHostPort(adv)
	if err != nil {
		return fmt.Errorf("raftfsm: raft address %q: %w", adv, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("raftfsm: raft address %q is not one other nodes can dial; set an advertise address", adv)
	}
	return nil
}

// Check reports what Open would refuse in c, as Validate does and, with
// the defaults filled in, the Raft timings too, without touching the
// disk or the network.
func (c Config) Check() error {
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	if err := raft.ValidateConfig(c.raftConfig(hclog.NewNullLogger())); err != nil {
		return fmt.Errorf("raftfsm: %w", err)
	}
	return nil
}

// Store is one node's replica: raft over the FSM, a raft-wal or BoltDB log
// and stable store, file snapshots and a TCP transport.
type Store struct {
	cfg    Config       // immutable
	logger *slog.Logger // immutable
	fsm    *FSM         // immutable

	raft      *raft.Raft
	transport *raft.NetworkTransport
	// logStore is the log and stable store, raft-wal or BoltDB.
	logStore *raftStore
	lock     *dirLock // the data directory's; released last
	observer *raft.Observer
	existing bool // the directory held Raft state at Open

	batcher   *coalesce.Coalescer[Op, *ApplyResponse]
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	wg        sync.WaitGroup // the observer loop

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed at the next leader change; protected by leaderMu
}

// Open starts a node's store. It bootstraps a new cluster if asked to and
// the directory is empty; a node with existing state resumes it.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftfsm: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		lock:          lock,
		cfg:           cfg,
		logger:        cfg.Logger.With("component", "raftfsm"),
		fsm:           NewFSM(cfg.HistorySize, cfg.Logger.With("component", "fsm")),
		closing:       make(chan struct{}),
		leaderChanged: make(chan struct{}),
	}
	if err := s.openRaft(); err != nil {
		s.closeResources()
		return nil, err
	}
	// Registered before Open returns, so no leader change is missed.
	obs := make(chan raft.Observation, 16)
	s.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	s.raft.RegisterObserver(s.observer)
	s.batcher = s.newBatcher()
	s.wg.Add(1)
	go s.observe(obs)
	return s, nil
}

func (s *Store) openRaft() error {
	hl := hclogslog.New(s.cfg.Logger.With("component", "raft"), hclog.Info)
	logs, err := s.openLogStore(hl)
	if err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, s.cfg.RetainSnapshots, hl)
	if err != nil {
		return fmt.Errorf("raftfsm: open snapshot store: %w", err)
	}
	var adv net.Addr // nil: the listener's own address
	if s.cfg.RaftAdvertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", s.cfg.RaftAdvertise); err != nil {
			return fmt.Errorf("raftfsm: raft advertise address: %w", err)
		}
	}
	s.transport, err = newTransport(s.cfg.RaftAddr, adv, s.cfg.RaftTLS, hl)
	if err != nil {
		return fmt.Errorf("raftfsm: raft transport: %w", err)
	}
	rc := s.cfg.raftConfig(hl)
	existing, err := raft.HasExistingState(logs, s.logStore, snaps)
	if err != nil {
		return fmt.Errorf("raftfsm: %w", err)
	}
	s.existing = existing
	s.raft, err = raft.NewRaft(rc, s.fsm, logs, s.logStore, snaps, s.transport)
	if err != nil {
		return fmt.Errorf("raftfsm: start raft: %w", err)
	}
	switch {
	case s.cfg.Bootstrap && !existing:
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: s.transport.LocalAddr(),
		}}}
		if err := s.raft.BootstrapCluster(boot).Error(); err != nil {
			return fmt.Errorf("raftfsm: bootstrap: %w", err)
		}
		s.logger.Info("bootstrapped a new cluster", "node", s.cfg.NodeID)
	case s.cfg.Bootstrap:
		s.logger.Info("existing state found; not bootstrapping again", "node", s.cfg.NodeID)
	}
	return nil
}

// openLogStore opens the log and stable store the directory holds or the
// configuration asks for, with the log cache in front.
func (s *Store) openLogStore(hl hclog.Logger) (*logCache, error) {
	kind, err := chooseStore(s.cfg.Dir, s.cfg.RaftStore)
	if err != nil {
		return nil, err
	}
	if kind == RaftStoreBoltDB && exists(filepath.Join(s.cfg.Dir, walDir)) {
		s.logger.Warn("ignoring a wal directory beside raft.db, left by an interrupted conversion",
			"path", filepath.Join(s.cfg.Dir, walDir))
	}
	if s.logStore, err = openRaftStore(kind, storePath(s.cfg.Dir, kind), hl); err != nil {
		return nil, err
	}
	s.logger.Info("opened the Raft log store", "store", string(kind), "path", s.logStore.path)
	// The store itself, not the wrapper: logCache.IsMonotonic asks it.
	return newLogCache(s.logStore.LogStore, logCacheEntries, logCacheBytes), nil
}

func (c Config) raftConfig(hl hclog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.Logger = hl
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.SnapshotInterval = c.SnapshotInterval
	rc.TrailingLogs = c.TrailingLogs
	// Group commit: the leader takes every queued proposal into one
	// append and one fsync, and ships up to 1024 entries per message.
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 1024
	return rc
}

// HadState reports whether the node resumed existing Raft state, in which
// case it needs neither bootstrap nor join.
func (s *Store) HadState() bool { return s.existing }

// FSM returns the state machine, for local reads and watches.
func (s *Store) FSM() *FSM { return s.fsm }

// NodeID returns this node's ID.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// RaftAddr returns the address other nodes reach this node's Raft at.
func (s *Store) RaftAddr() string { return string(s.transport.LocalAddr()) }

// GRPCAddr returns this node's advertised gRPC address.
func (s *Store) GRPCAddr() string { return s.cfg.GRPCAddr }

// Raft exposes the raft node to metrics and tests.
func (s *Store) Raft() *raft.Raft { return s.raft }

// observe turns raft's leader observations into a broadcast for WaitLeader.
func (s *Store) observe(ch <-chan raft.Observation) {
	defer s.wg.Done()
	defer s.raft.DeregisterObserver(s.observer)
	for {
		select {
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			s.logger.Info("leader changed", "leader", string(lo.LeaderID), "raft_addr", string(lo.LeaderAddr))
			s.leaderMu.Lock()
			close(s.leaderChanged)
			s.leaderChanged = make(chan struct{})
			s.leaderMu.Unlock()
		case <-s.closing:
			return
		}
	}
}

// Leader returns the current leader's ID and Raft address, empty if none
// is known.
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// WaitLeader waits, at most LeaderWait, until a leader is known and
// returns it. ErrNoLeader if none shows up.
func (s *Store) WaitLeader(ctx context.Context) (id, addr string, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LeaderWait)
	defer cancel()
	return s.WaitLeaderNot(ctx, "")
}

// WaitNewLeader waits, at most LeaderWait, until a leader other than old
// is known: after the leader it knew proved unreachable.
func (s *Store) WaitNewLeader(ctx context.Context, old string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LeaderWait)
	defer cancel()
	id, _, err := s.WaitLeaderNot(ctx, old)
	return id, err
}

// WaitLeaderNot waits, as long as ctx allows, until a leader other than
// old (which may be "") is known, and returns it.
func (s *Store) WaitLeaderNot(ctx context.Context, old string) (id, addr string, err error) {
	for {
		s.leaderMu.Lock()
		changed := s.leaderChanged
		s.leaderMu.Unlock()
		if id, addr := s.Leader(); id != "" && id != old {
			return id, addr, nil
		}
		select {
		case <-changed:
		case <-s.closing:
			return "", "", ErrClosed
		case <-ctx.Done():
			return "", "", ErrNoLeader
		}
	}
}

// LeaderWait returns how long operations wait for a leader.
func (s *Store) LeaderWait() time.Duration { return s.cfg.LeaderWait }

// notLeader describes the leader for a caller that reached a follower.
func (s *Store) notLeader() error {
	id, addr := s.Leader()
	grpc, _ := s.fsm.Member(id)
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr, LeaderGRPC: grpc}
}

// StepDown hands leadership to another voter if this node leads, so that
// the cluster does not wait out an election timeout when it stops.
func (s *Store) StepDown() {
	if !s.IsLeader() || s.otherVoters() == 0 {
		return
	}
	if err := s.raft.LeadershipTransfer().Error(); err != nil {
		s.logger.Warn("leadership transfer before shutdown failed", "err", err)
		return
	}
	s.logger.Info("handed leadership over before shutdown")
}

// Close shuts the node down, stepping down first.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.StepDown()
		close(s.closing)
		// Before raft stops: queued writes then fail as never proposed
		// (ErrClosed), not as lost in a shutdown (unknown outcome), and
		// the entries in flight get their answers.
		s.batcher.Close()
		if serr := s.raft.Shutdown().Error(); serr != nil {
			err = fmt.Errorf("raftfsm: shutdown: %w", serr)
		}
		s.wg.Wait()
		if cerr := s.closeResources(); err == nil {
			err = cerr
		}
	})
	return err
}

func (s *Store) closeResources() error {
	var errs []error
	if s.transport != nil {
		errs = append(errs, s.transport.Close())
	}
	if s.logStore != nil {
		errs = append(errs, s.logStore.Close())
	}
	errs = append(errs, s.lock.unlock())
	return errors.Join(errs...)
}

func (s *Store) otherVoters() int {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	n := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.cfg.NodeID {
			n++
		}
	}
	return n
}
