package mupdatecompat

import (
	"errors"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/auth"
)

// handleWrite runs RESERVE, ACTIVATE, DEACTIVATE and DELETE (RFC 3656
// §4.1-4.4). They share one path, like Cyrus's cmd_set: check the
// arguments and the identity's right to the location, then apply through
// the leader and answer only once the change is committed. Semantics are
// the state machine's (raftfsm), which follows Cyrus's master.
func (c *conn) handleWrite(cmd *wire.Command) *Error {
	op, err := writeOp(cmd)
	if err != nil {
		return err
	}
	if err := c.authorize(&op); err != nil {
		return err
	}
	ctx, cancel := c.writeContext()
	defer cancel()
	resp, aerr := c.s.cfg.Cluster.Apply(ctx, []raftfsm.Op{op}, false)
	if errors.Is(aerr, raftfsm.ErrCannotConfine) {
		// Refused before anything was proposed: a member cannot read
		// confined operations yet (see authorize).
		op.OnlyOn = nil
		resp, aerr = c.s.cfg.Cluster.Apply(ctx, []raftfsm.Op{op}, false)
	}
	if resp != nil {
		// Refused or not, the answer reflects the state at this
		// revision, which the connection's reads must not predate.
		c.wrote(op.Name, resp.Revision)
	}
	c.unsure = c.unsure || errors.Is(aerr, raftfsm.ErrUnknownOutcome)
	if aerr == nil {
		aerr = resp.Results[0].Err
	}
	if aerr != nil {
		c.logger.Info("write refused", "op", op.Kind.String(), "mailbox", op.Name, "user", c.id.Name, "err", aerr)
		return writeError(aerr)
	}
	c.logger.Debug("write", "op", op.Kind.String(), "mailbox", op.Name, "user", c.id.Name, "index", resp.Revision)
	c.ok(cmd.Tag, "done")
	return nil
}

// writeOp turns a command into an operation.
func writeOp(cmd *wire.Command) (raftfsm.Op, *Error) {
	var kind raftfsm.OpKind
	var args int
	switch cmd.Name {
	case "RESERVE":
		kind, args = raftfsm.OpReserve, 2
	case "ACTIVATE":
		kind, args = raftfsm.OpActivate, 3
	case "DEACTIVATE":
		kind, args = raftfsm.OpDeactivate, 2
	default:
		kind, args = raftfsm.OpDelete, 1
	}
	if err := nargs(cmd, args, args); err != nil {
		return raftfsm.Op{}, err
	}
	op := raftfsm.Op{Kind: kind, Name: cmd.Args[0]}
	if args > 1 {
		op.Location = cmd.Args[1]
	}
	if args > 2 {
		op.ACL = cmd.Args[2]
	}
	return op, nil
}

// authorize checks the identity's right to op and confines a backend's
// op to its servers (auth.Identity.Authorize), against this node's copy.
// While the cluster cannot take confined operations (a member that
// predates them, during a rolling upgrade, or one that has just joined),
// it refuses them before proposing anything, and handleWrite sends the
// write again unconfined: the check here is then the only one, rather
// than every backend write failing meanwhile.
func (c *conn) authorize(op *raftfsm.Op) *Error {
	err := c.id.Authorize(op, func(name string) (string, bool) {
		if m, _ := c.s.cfg.FSM.Get(name); m != nil {
			return m.Location, true
		}
		return "", false
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrReadOnly):
		return errReadOnly
	}
	return errNotYourMbox
}
