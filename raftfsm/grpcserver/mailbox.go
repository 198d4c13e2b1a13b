package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/auth"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	defaultPageSize = 1000
	maxPageSize     = 10000
	maxBatchOps     = 100_000
	maxBatchBytes   = 16 << 20
)

// readAt waits, before a read, until this node's state is new enough:
// confirmed with the leader when consistent is set, else at least
// minRevision (a client's own last write, which a follower may not have
// applied yet when the leader's answer reached the client). Waiting for
// minRevision is bounded by the store's LeaderWait as well as the call's
// deadline: a node cut off from the leader answers Unavailable rather
// than an older state.
func (s *Server) readAt(ctx context.Context, consistent bool, minRevision uint64) error {
	if consistent {
		return toStatus(s.fwd.ReadIndex(ctx))
	}
	if minRevision == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.store.LeaderWait())
	defer cancel()
	return toStatus(s.store.WaitApplied(ctx, minRevision))
}

// GetMailbox implements roost.v1.MailboxService.
func (s *Server) GetMailbox(ctx context.Context, req *roostv1.GetMailboxRequest) (*roostv1.GetMailboxResponse, error) {
	if err := s.readAt(ctx, req.Consistent, req.MinRevision); err != nil {
		return nil, err
	}
	m, rev := s.store.FSM().Get(string(req.Name))
	if m == nil {
		return nil, status.Errorf(codes.NotFound, "mailbox %q doesn't exist", req.Name)
	}
	return &roostv1.GetMailboxResponse{Mailbox: mailboxToProto(m), Revision: rev}, nil
}

// ListMailboxes implements roost.v1.MailboxService.
func (s *Server) ListMailboxes(ctx context.Context, req *roostv1.ListMailboxesRequest) (*roostv1.ListMailboxesResponse, error) {
	if err := s.readAt(ctx, req.Consistent, req.MinRevision); err != nil {
		return nil, err
	}
	size := int(req.PageSize)
	switch {
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	opts := raftfsm.ListOptions{
		Prefix:         string(req.Prefix),
		LocationPrefix: string(req.LocationPrefix),
		ByteOrder:      req.Order == roostv1.ListOrder_LIST_ORDER_BYTES,
		After:          string(req.PageToken),
		Limit:          size + 1,
	}
	if len(req.Pattern) > 0 {
		p, err := raftfsm.NewPattern(string(req.Pattern))
		if err != nil {
			return nil, toStatus(err)
		}
		opts.Pattern = p
	}
	v := s.store.FSM().View()
	resp := &roostv1.ListMailboxesResponse{Revision: v.Revision()}
	v.List(opts, func(m raftfsm.Mailbox) bool {
		resp.Mailboxes = append(resp.Mailboxes, mailboxToProto(&m))
		return true
	})
	if len(resp.Mailboxes) > size {
		resp.Mailboxes = resp.Mailboxes[:size]
		resp.NextPageToken = resp.Mailboxes[size-1].Name
	}
	return resp, nil
}

// apply runs one operation through the leader and returns its result.
func (s *Server) apply(ctx context.Context, op raftfsm.Op) (*raftfsm.Result, uint64, error) {
	resp, err := s.applyOps(ctx, []raftfsm.Op{op}, false)
	if err != nil {
		return nil, 0, err
	}
	r := resp.Results[0]
	if r.Err != nil {
		return nil, 0, toStatus(r.Err)
	}
	return &r, resp.Revision, nil
}

// applyOps checks the caller's right to ops, then applies them locally
// for a call another node forwarded (never forwarding twice), else
// through the Forwarder. A backend's ops go out confined to its servers
// (auth.Identity.Authorize); while the cluster cannot take confined
// operations, which it says before proposing anything, they go again
// unconfined, checked against this node's copy only, as on MUPDATE.
func (s *Server) applyOps(ctx context.Context, ops []raftfsm.Op, atomic bool) (*raftfsm.ApplyResponse, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.PermissionDenied, "permission denied: the call carries no identity")
	}
	location := func(name string) (string, bool) {
		if m, _ := s.store.FSM().Get(name); m != nil {
			return m.Location, true
		}
		return "", false
	}
	for i := range ops {
		if err := id.Authorize(&ops[i], location); err != nil {
			return nil, status.Errorf(codes.PermissionDenied, "operation %d (%s %q): %s", i, ops[i].Kind, ops[i].Name,
				strings.TrimPrefix(err.Error(), "permission denied: "))
		}
	}
	apply := s.fwd.Apply
	if isForwarded(ctx) {
		apply = s.store.Apply
	}
	resp, err := apply(ctx, ops, atomic)
	if errors.Is(err, raftfsm.ErrCannotConfine) && id.Role == auth.RoleBackend {
		for i := range ops {
			ops[i].OnlyOn = nil
		}
		resp, err = apply(ctx, ops, atomic)
	}
	return resp, toStatus(err)
}

// Reserve implements roost.v1.MailboxService.
func (s *Server) Reserve(ctx context.Context, req *roostv1.ReserveRequest) (*roostv1.ReserveResponse, error) {
	r, rev, err := s.apply(ctx, raftfsm.Op{Kind: raftfsm.OpReserve, Name: string(req.Name), Location: string(req.Location)})
	if err != nil {
		return nil, err
	}
	return &roostv1.ReserveResponse{Mailbox: mailboxToProto(r.Mailbox), Revision: rev}, nil
}

// Activate implements roost.v1.MailboxService.
func (s *Server) Activate(ctx context.Context, req *roostv1.ActivateRequest) (*roostv1.ActivateResponse, error) {
	r, rev, err := s.apply(ctx, raftfsm.Op{Kind: raftfsm.OpActivate, Name: string(req.Name),
		Location: string(req.Location), ACL: string(req.Acl)})
	if err != nil {
		return nil, err
	}
	return &roostv1.ActivateResponse{Mailbox: mailboxToProto(r.Mailbox), Revision: rev}, nil
}

// Deactivate implements roost.v1.MailboxService.
func (s *Server) Deactivate(ctx context.Context, req *roostv1.DeactivateRequest) (*roostv1.DeactivateResponse, error) {
	r, rev, err := s.apply(ctx, raftfsm.Op{Kind: raftfsm.OpDeactivate, Name: string(req.Name), Location: string(req.Location)})
	if err != nil {
		return nil, err
	}
	return &roostv1.DeactivateResponse{Mailbox: mailboxToProto(r.Mailbox), Revision: rev}, nil
}

// Delete implements roost.v1.MailboxService.
func (s *Server) Delete(ctx context.Context, req *roostv1.DeleteRequest) (*roostv1.DeleteResponse, error) {
	r, rev, err := s.apply(ctx, raftfsm.Op{Kind: raftfsm.OpDelete, Name: string(req.Name)})
	if err != nil {
		return nil, err
	}
	return &roostv1.DeleteResponse{Existed: r.Existed, Revision: rev}, nil
}

// Batch implements roost.v1.MailboxService.
func (s *Server) Batch(ctx context.Context, req *roostv1.BatchRequest) (*roostv1.BatchResponse, error) {
	if len(req.Operations) == 0 || len(req.Operations) > maxBatchOps {
		return nil, status.Errorf(codes.InvalidArgument, "a batch holds 1 to %d operations", maxBatchOps)
	}
	ops := make([]raftfsm.Op, len(req.Operations))
	size := 0
	for i, o := range req.Operations {
		op, ok := opFromProto(o)
		if !ok {
			return nil, status.Error(codes.InvalidArgument, fmt.Sprintf("operation %d is empty", i))
		}
		ops[i] = op
		size += op.Size()
	}
	// One batch is one revision, which reaches watchers in one message:
	// keep it well inside every client's message limit.
	if size > maxBatchBytes {
		return nil, status.Errorf(codes.InvalidArgument, "a batch carries at most %d bytes of names, locations, ACLs and servers", maxBatchBytes)
	}
	resp, err := s.applyOps(ctx, ops, req.Atomic)
	if err != nil {
		return nil, err
	}
	out := &roostv1.BatchResponse{Revision: resp.Revision, Results: make([]*roostv1.OperationResult, len(resp.Results))}
	for i, r := range resp.Results {
		if req.OmitMailboxes {
			r.Mailbox = nil
		}
		out.Results[i] = resultToProto(r)
	}
	return out, nil
}
