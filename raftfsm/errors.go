package raftfsm

import "errors"

// Errors returned by the Store and carried in operation results. Compare
// them with errors.Is.
var (
	// ErrNotLeader: the write or consistent read needs the leader. The
	// error returned is a *NotLeaderError that names it when known.
	ErrNotLeader = errors.New("raftfsm: not leader")
	// ErrNoLeader: no leader was elected within the wait bound.
	ErrNoLeader = errors.New("raftfsm: no leader")
	// ErrExists: RESERVE of a name that exists at another location.
	ErrExists = errors.New("raftfsm: mailbox already exists")
	// ErrNotFound: the mailbox does not exist.
	ErrNotFound = errors.New("raftfsm: mailbox doesn't exist")
	// ErrNotActive: DEACTIVATE of a mailbox that is not ACTIVE.
	ErrNotActive = errors.New("raftfsm: mailbox not currently active")
	// ErrWrongServer: the entry is on a server the operation is not
	// confined to (Op.OnlyOn).
	ErrWrongServer = errors.New("raftfsm: mailbox is on another server")
	// ErrCannotConfine: an operation is confined to servers (Op.OnlyOn)
	// while a member has not declared that it reads such operations
	// (LogFormatOnlyOn): a build that predates them, or a node that has
	// just joined. Nothing was proposed; retry once every member has.
	ErrCannotConfine = errors.New("raftfsm: not every member reads operations confined to servers yet")
	// ErrInvalid: a malformed name, location, ACL or request.
	ErrInvalid = errors.New("raftfsm: invalid argument")
	// ErrAborted: an operation of an atomic batch was not applied because
	// another one was refused.
	ErrAborted = errors.New("raftfsm: batch aborted")
	// ErrCompacted: a watch asked for a revision the history no longer
	// holds, or fell behind it; the caller must list again.
	ErrCompacted = errors.New("raftfsm: revision compacted; relist")
	// ErrUnknownOutcome: a write was proposed but its fate is unknown
	// (leadership lost, no quorum within the apply timeout, shutdown): it
	// may yet be applied. Callers must not blindly retry one that is not
	// idempotent; read the state instead.
	ErrUnknownOutcome = errors.New("raftfsm: outcome unknown")
	// ErrBehind: this node has not applied the revision a read asked for
	// (a client's own last write) within the wait bound: it lags behind
	// the leader, or is cut off from it. Retry, or read from another node.
	ErrBehind = errors.New("raftfsm: node has not caught up to the revision asked for")
	// ErrClosed: the store is shutting down.
	ErrClosed = errors.New("raftfsm: store closed")
	// ErrUnknownMember: no such cluster member.
	ErrUnknownMember = errors.New("raftfsm: unknown member")
	// ErrStoreMismatch: the data directory holds a store other than the
	// one asked for.
	ErrStoreMismatch = errors.New("raftfsm: the data directory holds another Raft store")
	// ErrStoreInUse: another process, most likely a running node, has the
	// store open.
	ErrStoreInUse = errors.New("raftfsm: the Raft store is in use by another process")
	// ErrNothingToConvert: the directory already uses the store asked for,
	// or holds no Raft store at all.
	ErrNothingToConvert = errors.New("raftfsm: nothing to convert")
)

// NotLeaderError is ErrNotLeader with the leader this node knows of.
type NotLeaderError struct {
	LeaderID   string // may be empty
	LeaderAddr string // Raft address; may be empty
	LeaderGRPC string // gRPC address, for clients; may be empty
}

// Error names the leader and where clients reach it.
func (e *NotLeaderError) Error() string {
	switch {
	case e.LeaderID == "":
		return ErrNotLeader.Error() + "; no leader known"
	case e.LeaderGRPC == "":
		return ErrNotLeader.Error() + "; leader is " + e.LeaderID
	}
	return ErrNotLeader.Error() + "; leader is " + e.LeaderID + " at " + e.LeaderGRPC
}

// Is makes errors.Is(err, ErrNotLeader) hold.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }
