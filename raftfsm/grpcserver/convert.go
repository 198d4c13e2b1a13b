package grpcserver

import (
	"errors"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
)

func mailboxToProto(m *raftfsm.Mailbox) *roostv1.Mailbox {
	if m == nil {
		return nil
	}
	return &roostv1.Mailbox{
		Name:           []byte(m.Name),
		State:          roostv1.MailboxState(m.State),
		Location:       []byte(m.Location),
		Acl:            []byte(m.ACL),
		CreateRevision: m.CreateRevision,
		ModifyRevision: m.ModifyRevision,
	}
}

func mailboxFromProto(p *roostv1.Mailbox) *raftfsm.Mailbox {
	if p == nil {
		return nil
	}
	return &raftfsm.Mailbox{
		Name:           string(p.Name),
		State:          raftfsm.State(p.State),
		Location:       string(p.Location),
		ACL:            string(p.Acl),
		CreateRevision: p.CreateRevision,
		ModifyRevision: p.ModifyRevision,
	}
}

// opFromProto converts one batch operation; ok is false for an empty one.
func opFromProto(o *roostv1.Operation) (raftfsm.Op, bool) {
	var op raftfsm.Op
	switch x := o.GetOp().(type) {
	case *roostv1.Operation_Reserve:
		op = raftfsm.Op{Kind: raftfsm.OpReserve, Name: string(x.Reserve.Name), Location: string(x.Reserve.Location)}
	case *roostv1.Operation_Activate:
		a := x.Activate
		op = raftfsm.Op{Kind: raftfsm.OpActivate, Name: string(a.Name), Location: string(a.Location), ACL: string(a.Acl)}
	case *roostv1.Operation_Deactivate:
		op = raftfsm.Op{Kind: raftfsm.OpDeactivate, Name: string(x.Deactivate.Name), Location: string(x.Deactivate.Location)}
	case *roostv1.Operation_Delete:
		op = raftfsm.Op{Kind: raftfsm.OpDelete, Name: string(x.Delete.Name)}
	default:
		return raftfsm.Op{}, false
	}
	if len(o.OnlyOnServers) > 0 {
		op.OnlyOn = make([]string, len(o.OnlyOnServers))
		for i, srv := range o.OnlyOnServers {
			op.OnlyOn[i] = string(srv)
		}
	}
	return op, true
}

// OpToProto converts an operation for a Batch call; an unknown kind
// becomes an empty operation, which the leader refuses.
func OpToProto(op raftfsm.Op) *roostv1.Operation {
	n, l := []byte(op.Name), []byte(op.Location)
	var out *roostv1.Operation
	switch op.Kind {
	case raftfsm.OpReserve:
		out = &roostv1.Operation{Op: &roostv1.Operation_Reserve{Reserve: &roostv1.ReserveRequest{Name: n, Location: l}}}
	case raftfsm.OpActivate:
		out = &roostv1.Operation{Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{Name: n, Location: l, Acl: []byte(op.ACL)}}}
	case raftfsm.OpDeactivate:
		out = &roostv1.Operation{Op: &roostv1.Operation_Deactivate{Deactivate: &roostv1.DeactivateRequest{Name: n, Location: l}}}
	case raftfsm.OpDelete:
		out = &roostv1.Operation{Op: &roostv1.Operation_Delete{Delete: &roostv1.DeleteRequest{Name: n}}}
	default:
		// An empty operation: the leader refuses it as invalid.
		return &roostv1.Operation{}
	}
	for _, srv := range op.OnlyOn {
		out.OnlyOnServers = append(out.OnlyOnServers, []byte(srv))
	}
	return out
}

// statusOf classifies an operation's error.
func statusOf(err error) roostv1.OperationStatus {
	switch {
	case err == nil:
		return roostv1.OperationStatus_OPERATION_STATUS_OK
	case errors.Is(err, raftfsm.ErrExists):
		return roostv1.OperationStatus_OPERATION_STATUS_ALREADY_EXISTS
	case errors.Is(err, raftfsm.ErrNotFound):
		return roostv1.OperationStatus_OPERATION_STATUS_NOT_FOUND
	case errors.Is(err, raftfsm.ErrNotActive):
		return roostv1.OperationStatus_OPERATION_STATUS_NOT_ACTIVE
	case errors.Is(err, raftfsm.ErrAborted):
		return roostv1.OperationStatus_OPERATION_STATUS_ABORTED
	case errors.Is(err, raftfsm.ErrWrongServer):
		return roostv1.OperationStatus_OPERATION_STATUS_WRONG_SERVER
	}
	return roostv1.OperationStatus_OPERATION_STATUS_INVALID
}

// errorOf is statusOf's inverse, for results that come back from the
// leader.
func errorOf(st roostv1.OperationStatus, msg string) error {
	var base error
	switch st {
	case roostv1.OperationStatus_OPERATION_STATUS_OK:
		return nil
	case roostv1.OperationStatus_OPERATION_STATUS_ALREADY_EXISTS:
		base = raftfsm.ErrExists
	case roostv1.OperationStatus_OPERATION_STATUS_NOT_FOUND:
		base = raftfsm.ErrNotFound
	case roostv1.OperationStatus_OPERATION_STATUS_NOT_ACTIVE:
		base = raftfsm.ErrNotActive
	case roostv1.OperationStatus_OPERATION_STATUS_ABORTED:
		base = raftfsm.ErrAborted
	case roostv1.OperationStatus_OPERATION_STATUS_WRONG_SERVER:
		base = raftfsm.ErrWrongServer
	default:
		base = raftfsm.ErrInvalid
	}
	return &opError{base: base, msg: msg}
}

// opError keeps the leader's wording while matching the sentinel.
type opError struct {
	base error
	msg  string
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.base }

func resultToProto(r raftfsm.Result) *roostv1.OperationResult {
	out := &roostv1.OperationResult{Status: statusOf(r.Err), Mailbox: mailboxToProto(r.Mailbox), Existed: r.Existed}
	if r.Err != nil {
		out.Message = r.Err.Error()
	}
	return out
}

func resultFromProto(p *roostv1.OperationResult) raftfsm.Result {
	return raftfsm.Result{Err: errorOf(p.Status, p.Message), Mailbox: mailboxFromProto(p.Mailbox), Existed: p.Existed}
}
