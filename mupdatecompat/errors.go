package mupdatecompat

import (
	"errors"

	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/auth"
)

// Error is a protocol failure: the reply's keyword (NO or BAD) and text.
type Error struct {
	Kind string // "NO" or "BAD"
	Text string
	// Reason names the refusal for metrics: a short, fixed word.
	Reason string
}

func (e *Error) Error() string { return e.Kind + " " + e.Text }

func bad(text string) *Error { return &Error{Kind: "BAD", Text: text, Reason: "other"} }
func no(text string) *Error  { return &Error{Kind: "NO", Text: text, Reason: "other"} }

// because returns a copy of e with reason.
func (e *Error) because(reason string) *Error {
	cp := *e
	cp.Reason = reason
	return &cp
}

var (
	errLoginFirst   = bad("Please login first").because("not_authenticated")
	errMissingArgs  = bad("Missing arguments").because("arguments")
	errExtraArgs    = bad("Extra arguments").because("arguments")
	errUnknown      = bad("Unrecognized command").because("unknown_command")
	errStreaming    = bad("not legal when streaming").because("streaming")
	errReadOnly     = no(auth.ErrReadOnly.Error()).because("read_only")
	errNotYourMbox  = no(auth.ErrAnotherServer.Error()).because("another_server")
	errAlreadyAuthd = bad("already authenticated").because("already_authenticated")
	errBehind       = no("this node has not caught up with the cluster; try again").because("behind")
)

// writeError turns a store error into the reply Cyrus clients expect; the
// texts are Cyrus's own where it has one.
func writeError(err error) *Error {
	switch {
	case errors.Is(err, raftfsm.ErrExists):
		return no("mailbox already exists").because("exists")
	case errors.Is(err, raftfsm.ErrNotFound):
		return no("mailbox doesn't exist").because("not_found")
	case errors.Is(err, raftfsm.ErrNotActive):
		return no("mailbox not currently active").because("not_active")
	case errors.Is(err, raftfsm.ErrWrongServer):
		return errNotYourMbox
	case errors.Is(err, raftfsm.ErrInvalid):
		return no("invalid argument: " + err.Error()).because("invalid")
	case errors.Is(err, raftfsm.ErrUnknownOutcome):
		return no("outcome unknown (leadership changed or no quorum); check with FIND").because("unknown_outcome")
	case errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrNoLeader):
		return no("cluster unavailable (no leader or no quorum); try again").because("unavailable")
	}
	return no("the operation failed: " + err.Error()).because("failed")
}
