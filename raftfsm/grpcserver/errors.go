package grpcserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The ErrorInfo reasons that tell apart errors sharing a code: a refusal
// by a node that does not lead and one of operations confined to servers
// before every member reads them (both Unavailable, as is a lost quorum),
// and an entry on a server an operation is not confined to
// (FailedPrecondition, as is a DEACTIVATE of an entry that is not active;
// the Write stream reports it so, Batch as OPERATION_STATUS_WRONG_SERVER).
const (
	errorDomain         = "roost-mail.org"
	notLeaderReason     = "NOT_LEADER"
	cannotConfineReason = "CANNOT_CONFINE"
	wrongServerReason   = "WRONG_SERVER"
)

// withReason returns a status with code, message and an ErrorInfo reason.
func withReason(code codes.Code, msg, reason string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// reason returns the reason of st's Roost ErrorInfo, or "".
func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
			return info.Reason
		}
	}
	return ""
}

// toStatus maps store errors to gRPC status codes, in one place. Errors
// that already are statuses (from a forwarded call) pass through.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var nl *raftfsm.NotLeaderError
	switch {
	case errors.Is(err, raftfsm.ErrUnknownOutcome):
		// gRPC's own words for DEADLINE_EXCEEDED: the change may have
		// completed. Clients retry Unavailable, never this.
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.As(err, &nl):
		// Marked, so a forwarding follower knows the call did nothing
		// and may try the next leader.
		return withReason(codes.Unavailable, err.Error(), notLeaderReason)
	case errors.Is(err, raftfsm.ErrInvalid), errors.Is(err, raftfsm.ErrBadSnapshot):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, raftfsm.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, raftfsm.ErrNotFound), errors.Is(err, raftfsm.ErrUnknownMember):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, raftfsm.ErrNotActive):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, raftfsm.ErrAborted):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, raftfsm.ErrWrongServer):
		return withReason(codes.FailedPrecondition, err.Error(), wrongServerReason)
	case errors.Is(err, raftfsm.ErrCompacted):
		return status.Error(codes.OutOfRange, err.Error())
	case errors.Is(err, raftfsm.ErrCannotConfine):
		return withReason(codes.Unavailable, err.Error(), cannotConfineReason)
	case errors.Is(err, raftfsm.ErrNoLeader), errors.Is(err, raftfsm.ErrClosed), errors.Is(err, raftfsm.ErrBehind):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus turns a forwarded call's status back into a store error, so
// in-process callers such as the MUPDATE listener see the same errors
// whether the leader was local or not.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var base error
	switch st.Code() {
	case codes.InvalidArgument:
		base = raftfsm.ErrInvalid
	case codes.AlreadyExists:
		base = raftfsm.ErrExists
	case codes.NotFound:
		base = raftfsm.ErrNotFound
	case codes.FailedPrecondition:
		base = raftfsm.ErrNotActive
		if reason(st) == wrongServerReason {
			base = raftfsm.ErrWrongServer
		}
	case codes.Aborted:
		base = raftfsm.ErrAborted
	case codes.Unavailable:
		switch base = raftfsm.ErrNoLeader; reason(st) {
		case notLeaderReason:
			base = raftfsm.ErrNotLeader
		case cannotConfineReason:
			base = raftfsm.ErrCannotConfine
		}
	case codes.DeadlineExceeded:
		base = raftfsm.ErrUnknownOutcome
	default:
		return err
	}
	return fmt.Errorf("%w: %s", base, st.Message())
}
