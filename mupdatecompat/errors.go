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
}

func (e *Error) Error() string { return e.Kind + " " + e.Text }

func bad(text string) *Error { return &Error{Kind: "BAD", Text: text} }
func no(text string) *Error  { return &Error{Kind: "NO", Text: text} }

var (
	errLoginFirst   = bad("Please login first")
	errMissingArgs  = bad("Missing arguments")
	errExtraArgs    = bad("Extra arguments")
	errUnknown      = bad("Unrecognized command")
	errStreaming    = bad("not legal when streaming")
	errReadOnly     = no(auth.ErrReadOnly.Error())
	errNotYourMbox  = no(auth.ErrAnotherServer.Error())
	errAlreadyAuthd = bad("already authenticated")
	errBehind       = no("this node has not caught up with the cluster; try again")
)

// writeError turns a store error into the reply Cyrus clients expect; the
// texts are Cyrus's own where it has one.
func writeError(err error) *Error {
	switch {
	case errors.Is(err, raftfsm.ErrExists):
		return no("mailbox already exists")
	case errors.Is(err, raftfsm.ErrNotFound):
		return no("mailbox doesn't exist")
	case errors.Is(err, raftfsm.ErrNotActive):
		return no("mailbox not currently active")
	case errors.Is(err, raftfsm.ErrWrongServer):
		return errNotYourMbox
	case errors.Is(err, raftfsm.ErrInvalid):
		return no("invalid argument: " + err.Error())
	case errors.Is(err, raftfsm.ErrUnknownOutcome):
		return no("outcome unknown (leadership changed or no quorum); check with FIND")
	case errors.Is(err, raftfsm.ErrNotLeader), errors.Is(err, raftfsm.ErrNoLeader):
		return no("cluster unavailable (no leader or no quorum); try again")
	}
	return no("the operation failed: " + err.Error())
}
