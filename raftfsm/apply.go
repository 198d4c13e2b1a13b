package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/roost-mail/roost/raftfsm/internal/coalesce"
)

// Apply proposes operations and waits until they are committed and
// applied. It must run on the leader (else a *NotLeaderError). Malformed
// operations are refused here and never reach the log. An atomic batch is
// all or nothing; otherwise each operation succeeds or fails on its own and
// concurrent callers' operations share log entries (group commit).
func (s *Store) Apply(ctx context.Context, ops []Op, atomic bool) (resp *ApplyResponse, err error) {
	start := time.Now()
	defer func() { s.cfg.Metrics.ObserveApply(len(ops), time.Since(start), err) }()
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: no operations", ErrInvalid)
	}
	if !s.IsLeader() {
		return nil, s.notLeader()
	}
	// Checked again when the entry is encoded, should a member join
	// meanwhile: then the whole entry is refused.
	if err := s.CheckConfine(ops); err != nil {
		return nil, err
	}
	results := make([]Result, len(ops))
	valid := make([]Op, 0, len(ops))
	for i, op := range ops {
		err := op.Validate()
		if err == nil {
			err = op.CheckPeers()
		}
		if err != nil {
			results[i].Err = fmt.Errorf("%s %q: %w", op.Kind, op.Name, err)
		} else {
			valid = append(valid, op)
		}
	}
	if len(valid) < len(ops) {
		if len(ops) == 1 {
			return nil, results[0].Err
		}
		if atomic {
			return abortedResponse(ops, results), nil
		}
	}
	if len(valid) == 0 {
		return &ApplyResponse{Results: results}, nil
	}
	if atomic || len(valid) >= s.cfg.MaxBatchOps {
		resp, err = s.applyNow(valid, atomic)
	} else {
		resp, err = s.applyCoalesced(ctx, valid)
	}
	if err != nil {
		return nil, err
	}
	// Put the proposed results back among the refused ones.
	j := 0
	for i := range results {
		if results[i].Err == nil {
			results[i] = resp.Results[j]
			j++
		}
	}
	return &ApplyResponse{Revision: resp.Revision, Results: results}, nil
}

func abortedResponse(ops []Op, results []Result) *ApplyResponse {
	for i := range results {
		if results[i].Err == nil {
			results[i].Err = fmt.Errorf("%s %q: %w", ops[i].Kind, ops[i].Name, ErrAborted)
		}
	}
	return &ApplyResponse{Results: results}
}

// applyNow proposes one entry and waits for it.
func (s *Store) applyNow(ops []Op, atomic bool) (*ApplyResponse, error) {
	data, err := encodeOps(ops, atomic, s.logFormat())
	if err != nil {
		return nil, err
	}
	s.cfg.Metrics.ObserveEntry(len(ops))
	return s.wait(s.raft.Apply(data, s.cfg.ApplyTimeout))
}

// wait waits for a proposal, at most ApplyTimeout: without a quorum the
// leader keeps the entry, but the caller must hear back promptly.
func (s *Store) wait(f raft.ApplyFuture) (*ApplyResponse, error) {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	t := time.NewTimer(s.cfg.ApplyTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return nil, s.proposalError(err)
		}
	case <-t.C:
		return nil, fmt.Errorf("%w: not committed within %v (is a quorum up?)", ErrUnknownOutcome, s.cfg.ApplyTimeout)
	}
	resp, ok := f.Response().(*ApplyResponse)
	if !ok {
		return nil, fmt.Errorf("raftfsm: unexpected apply response %T", f.Response())
	}
	return resp, nil
}

// raftError maps raft's errors to the store's.
func (s *Store) raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return s.notLeader()
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: raft is not accepting entries", ErrNoLeader)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrNoLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	}
	return fmt.Errorf("raftfsm: %w", err)
}

// proposalError maps the error of a proposed entry. Once proposed, an
// entry the leader loses track of (leadership lost, a restore, shutdown)
// may still commit under the next leader, so its outcome is unknown;
// other errors are raftError's.
func (s *Store) proposalError(err error) error {
	switch {
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, ErrUnknownOutcome)
	}
	return s.raftError(err)
}

// applyCoalesced hands operations to the batcher and waits for the entry
// that carries them.
func (s *Store) applyCoalesced(ctx context.Context, ops []Op) (*ApplyResponse, error) {
	return s.batcher.Do(ctx, ops)
}

// newBatcher coalesces concurrent callers' operations into shared log
// entries. At most MaxInflight entries are in flight; while they commit,
// new operations queue up and go out together in the next entry, so
// throughput grows with concurrency instead of being capped at one
// proposal per disk write.
func (s *Store) newBatcher() *coalesce.Coalescer[Op, *ApplyResponse] {
	cfg := coalesce.Config[Op]{
		MaxOps:    s.cfg.MaxBatchOps,
		Inflight:  s.cfg.MaxInflight,
		MaxLinger: maxLinger,
		Closed:    ErrClosed,
		Size:      Op.Size,
		MaxSize:   MaxEntryBytes,
	}
	send := func(ops []Op) func() (*ApplyResponse, error) {
		data, err := encodeOps(ops, false, s.logFormat())
		if err != nil {
			return func() (*ApplyResponse, error) { return nil, err }
		}
		s.cfg.Metrics.ObserveEntry(len(ops))
		f := s.raft.Apply(data, s.cfg.ApplyTimeout)
		return func() (*ApplyResponse, error) { return s.wait(f) }
	}
	return coalesce.New(cfg, send, SplitResponse)
}

// maxLinger caps how long an entry waits for the callers of the previous
// one to come back (coalesce.Coalescer), which is also at most that
// entry's round trip: 256 gRPC clients answered by one entry come back
// over 2 to 4 ms on two CPUs.
const maxLinger = 5 * time.Millisecond

// MaxEntryBytes caps the names, locations, ACLs and servers that concurrent
// callers' operations put into one log entry (or one forwarded call):
// big entries slow replication for everyone behind them.
const MaxEntryBytes = 8 << 20

// Size is what an operation carries: its name, location, ACL and the
// servers it is confined to.
func (o Op) Size() int {
	n := len(o.Name) + len(o.Location) + len(o.ACL)
	for _, s := range o.OnlyOn {
		n += len(s)
	}
	return n
}

// SplitResponse is the part of a coalesced response that belongs to the n
// operations starting at off. Each part has its own capacity, so no
// caller's append can reach another's results.
func SplitResponse(r *ApplyResponse, off, n int) *ApplyResponse {
	return &ApplyResponse{Revision: r.Revision, Results: r.Results[off : off+n : off+n]}
}
