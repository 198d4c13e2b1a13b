package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	notLeader := &raftfsm.NotLeaderError{LeaderID: "n2", LeaderAddr: "10.0.0.2:7001"}
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"invalid", raftfsm.ErrInvalid, codes.InvalidArgument},
		{"wrapped invalid", fmt.Errorf("RESERVE %q: %w: empty name", "", raftfsm.ErrInvalid), codes.InvalidArgument},
		{"bad snapshot", fmt.Errorf("%w: checksum mismatch", raftfsm.ErrBadSnapshot), codes.InvalidArgument},
		{"exists", raftfsm.ErrExists, codes.AlreadyExists},
		{"wrapped exists", fmt.Errorf("RESERVE %q: %w at be02!default", "user.jane", raftfsm.ErrExists), codes.AlreadyExists},
		{"not found", raftfsm.ErrNotFound, codes.NotFound},
		{"wrapped not found", fmt.Errorf("DEACTIVATE %q: %w", "user.jane", raftfsm.ErrNotFound), codes.NotFound},
		{"unknown member", fmt.Errorf("%w: %q", raftfsm.ErrUnknownMember, "n9"), codes.NotFound},
		{"not active", raftfsm.ErrNotActive, codes.FailedPrecondition},
		{"wrapped not active", fmt.Errorf("DEACTIVATE %q: %w", "user.jane", raftfsm.ErrNotActive), codes.FailedPrecondition},
		{"aborted", fmt.Errorf("ACTIVATE %q: %w", "user.jane", raftfsm.ErrAborted), codes.Aborted},
		{"wrong server", fmt.Errorf("DELETE %q: %w (be02!default)", "user.jane", raftfsm.ErrWrongServer), codes.FailedPrecondition},
		{"cannot confine", raftfsm.ErrCannotConfine, codes.Unavailable},
		{"compacted", raftfsm.ErrCompacted, codes.OutOfRange},
		{"no leader", fmt.Errorf("%w: not committed within 10s", raftfsm.ErrNoLeader), codes.Unavailable},
		{"closed", raftfsm.ErrClosed, codes.Unavailable},
		{"not leader", notLeader, codes.Unavailable},
		{"wrapped not leader", fmt.Errorf("apply: %w", notLeader), codes.Unavailable},
		{"not leader, leader unknown", &raftfsm.NotLeaderError{}, codes.Unavailable},
		{"canceled", context.Canceled, codes.Canceled},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"wrapped deadline", fmt.Errorf("raftfsm: waiting for index 7 (at 5): %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{"unknown", errors.New("disk on fire"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toStatus(tt.err)
			st, ok := status.FromError(got)
			if !ok || st.Code() != tt.want {
				t.Fatalf("toStatus(%v) = %v, want code %v", tt.err, got, tt.want)
			}
			if !strings.Contains(st.Message(), tt.err.Error()) {
				t.Errorf("toStatus(%v) message = %q, want it to hold %q", tt.err, st.Message(), tt.err.Error())
			}
		})
	}
}

func TestToStatusLeaderInMessage(t *testing.T) {
	err := toStatus(&raftfsm.NotLeaderError{LeaderID: "n2", LeaderAddr: "10.0.0.2:7001", LeaderGRPC: "10.0.0.2:3906"})
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "n2") || !strings.Contains(msg, "10.0.0.2:3906") {
		t.Errorf("toStatus(not leader) message = %q, want the leader's ID and gRPC address", msg)
	}
}

func TestToStatusPassesStatusesThrough(t *testing.T) {
	if got := toStatus(nil); got != nil {
		t.Errorf("toStatus(nil) = %v, want nil", got)
	}
	for _, c := range []codes.Code{codes.NotFound, codes.Unavailable, codes.PermissionDenied, codes.Internal} {
		in := status.Error(c, "from the leader")
		if got := toStatus(in); got != in {
			t.Errorf("toStatus(%v) = %v, want the same error", in, got)
		}
		wrapped := fmt.Errorf("forward: %w", in)
		if got := status.Code(toStatus(wrapped)); got != c {
			t.Errorf("toStatus(%v) code = %v, want %v", wrapped, got, c)
		}
	}
}

func TestFromStatus(t *testing.T) {
	tests := []struct {
		code codes.Code
		want error
	}{
		{codes.InvalidArgument, raftfsm.ErrInvalid},
		{codes.AlreadyExists, raftfsm.ErrExists},
		{codes.NotFound, raftfsm.ErrNotFound},
		{codes.FailedPrecondition, raftfsm.ErrNotActive},
		{codes.Aborted, raftfsm.ErrAborted},
		{codes.Unavailable, raftfsm.ErrNoLeader},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			in := status.Error(tt.code, "leader says no")
			got := fromStatus(in)
			if !errors.Is(got, tt.want) {
				t.Errorf("fromStatus(%v) = %v, want an error wrapping %v", in, got, tt.want)
			}
			if !strings.Contains(got.Error(), "leader says no") {
				t.Errorf("fromStatus(%v) = %q, want the leader's message kept", in, got)
			}
		})
	}
}

func TestFromStatusLeavesOthers(t *testing.T) {
	if got := fromStatus(nil); got != nil {
		t.Errorf("fromStatus(nil) = %v, want nil", got)
	}
	plain := errors.New("dial tcp: connection refused")
	if got := fromStatus(plain); got != plain {
		t.Errorf("fromStatus(%v) = %v, want it unchanged", plain, got)
	}
	for _, c := range []codes.Code{codes.Internal, codes.OutOfRange, codes.PermissionDenied} {
		in := status.Error(c, "x")
		if got := fromStatus(in); status.Code(got) != c {
			t.Errorf("fromStatus(%v) = %v, want code %v kept", in, got, c)
		}
	}
}

// TestStatusRoundTrip: a store error that crossed a forwarded call still
// matches its sentinel.
func TestStatusRoundTrip(t *testing.T) {
	tests := []struct {
		err, want error
	}{
		{fmt.Errorf("RESERVE %q: %w: empty name", "", raftfsm.ErrInvalid), raftfsm.ErrInvalid},
		{fmt.Errorf("RESERVE %q: %w at x", "user.a", raftfsm.ErrExists), raftfsm.ErrExists},
		{fmt.Errorf("DEACTIVATE %q: %w", "user.a", raftfsm.ErrNotFound), raftfsm.ErrNotFound},
		{fmt.Errorf("DEACTIVATE %q: %w", "user.a", raftfsm.ErrNotActive), raftfsm.ErrNotActive},
		{raftfsm.ErrAborted, raftfsm.ErrAborted},
		{fmt.Errorf("DELETE %q: %w (be02!default)", "user.a", raftfsm.ErrWrongServer), raftfsm.ErrWrongServer},
		{raftfsm.ErrCannotConfine, raftfsm.ErrCannotConfine},
		{raftfsm.ErrNoLeader, raftfsm.ErrNoLeader},
		{raftfsm.ErrClosed, raftfsm.ErrNoLeader},
		{&raftfsm.NotLeaderError{LeaderID: "n2"}, raftfsm.ErrNotLeader},
		{raftfsm.ErrBadSnapshot, raftfsm.ErrInvalid},
	}
	for _, tt := range tests {
		if got := fromStatus(toStatus(tt.err)); !errors.Is(got, tt.want) {
			t.Errorf("fromStatus(toStatus(%v)) = %v, want an error wrapping %v", tt.err, got, tt.want)
		}
	}
	// FailedPrecondition is a DEACTIVATE of an inactive entry unless
	// marked as an entry on another server.
	if got := fromStatus(toStatus(raftfsm.ErrNotActive)); errors.Is(got, raftfsm.ErrWrongServer) {
		t.Errorf("fromStatus(toStatus(ErrNotActive)) = %v, which claims another server", got)
	}
	// Only a refusal by a node that does not lead says the call did
	// nothing; any other Unavailable may have.
	for _, err := range []error{raftfsm.ErrNoLeader, raftfsm.ErrCannotConfine} {
		if got := fromStatus(toStatus(err)); errors.Is(got, raftfsm.ErrNotLeader) {
			t.Errorf("fromStatus(toStatus(%v)) = %v, which claims a refusal by a follower", err, got)
		}
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want roostv1.OperationStatus
	}{
		{nil, roostv1.OperationStatus_OPERATION_STATUS_OK},
		{fmt.Errorf("RESERVE %q: %w at x", "user.a", raftfsm.ErrExists), roostv1.OperationStatus_OPERATION_STATUS_ALREADY_EXISTS},
		{fmt.Errorf("DEACTIVATE %q: %w", "user.a", raftfsm.ErrNotFound), roostv1.OperationStatus_OPERATION_STATUS_NOT_FOUND},
		{fmt.Errorf("DEACTIVATE %q: %w", "user.a", raftfsm.ErrNotActive), roostv1.OperationStatus_OPERATION_STATUS_NOT_ACTIVE},
		{fmt.Errorf("ACTIVATE %q: %w", "user.a", raftfsm.ErrAborted), roostv1.OperationStatus_OPERATION_STATUS_ABORTED},
		{fmt.Errorf("DELETE %q: %w (x)", "user.a", raftfsm.ErrWrongServer), roostv1.OperationStatus_OPERATION_STATUS_WRONG_SERVER},
		{fmt.Errorf("RESERVE %q: %w: empty name", "", raftfsm.ErrInvalid), roostv1.OperationStatus_OPERATION_STATUS_INVALID},
		{errors.New("something else"), roostv1.OperationStatus_OPERATION_STATUS_INVALID},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("statusOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestErrorOfRoundTrip(t *testing.T) {
	sentinel := map[roostv1.OperationStatus]error{
		roostv1.OperationStatus_OPERATION_STATUS_ALREADY_EXISTS: raftfsm.ErrExists,
		roostv1.OperationStatus_OPERATION_STATUS_NOT_FOUND:      raftfsm.ErrNotFound,
		roostv1.OperationStatus_OPERATION_STATUS_NOT_ACTIVE:     raftfsm.ErrNotActive,
		roostv1.OperationStatus_OPERATION_STATUS_INVALID:        raftfsm.ErrInvalid,
		roostv1.OperationStatus_OPERATION_STATUS_ABORTED:        raftfsm.ErrAborted,
		roostv1.OperationStatus_OPERATION_STATUS_WRONG_SERVER:   raftfsm.ErrWrongServer,
	}
	for v := range roostv1.OperationStatus_name {
		st := roostv1.OperationStatus(v)
		if st == roostv1.OperationStatus_OPERATION_STATUS_UNSPECIFIED {
			continue
		}
		t.Run(st.String(), func(t *testing.T) {
			err := errorOf(st, "leader's words")
			if got := statusOf(err); got != st {
				t.Errorf("statusOf(errorOf(%v)) = %v, want %v", st, got, st)
			}
			if st == roostv1.OperationStatus_OPERATION_STATUS_OK {
				if err != nil {
					t.Errorf("errorOf(OK) = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, sentinel[st]) {
				t.Errorf("errorOf(%v) = %v, want an error wrapping %v", st, err, sentinel[st])
			}
			if err.Error() != "leader's words" {
				t.Errorf("errorOf(%v).Error() = %q, want %q", st, err.Error(), "leader's words")
			}
		})
	}
	// A status this version does not know is a refusal, never success.
	for _, st := range []roostv1.OperationStatus{roostv1.OperationStatus_OPERATION_STATUS_UNSPECIFIED, 99} {
		if err := errorOf(st, "?"); !errors.Is(err, raftfsm.ErrInvalid) {
			t.Errorf("errorOf(%v) = %v, want an error wrapping %v", st, err, raftfsm.ErrInvalid)
		}
	}
}

func TestUnknownOutcome(t *testing.T) {
	err := toStatus(fmt.Errorf("wrapped: %w", raftfsm.ErrUnknownOutcome))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("toStatus(unknown outcome) = %v, want DeadlineExceeded", err)
	}
	if back := fromStatus(err); !errors.Is(back, raftfsm.ErrUnknownOutcome) {
		t.Errorf("fromStatus(%v) = %v, want ErrUnknownOutcome", err, back)
	}
}
