package mupdatecompat

import (
	"errors"
	"strings"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm"
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

// authorize lets admins write anything, backends only entries located on
// their servers (Identity.MayWrite), and frontends nothing. A backend may
// also change or delete an existing entry only if it is on one of its
// servers now, so it cannot move another server's mailbox to itself.
// RESERVE of a name held elsewhere is left to the state machine, which
// refuses it as Cyrus's master does.
//
// The entry's server is checked twice. Here, against this node's copy,
// for a quick answer; then the operation goes out confined to the
// backend's servers (Op.OnlyOn), so that the state machine checks again as
// it applies it: the copy may lag, and a move may commit between the two.
// While the cluster cannot take confined operations (a member that
// predates them, during a rolling upgrade, or one that has just joined),
// it refuses them before proposing anything, and handleWrite sends the
// write again unconfined: the first check is then the only one, rather
// than every backend write failing meanwhile.
func (c *conn) authorize(op *raftfsm.Op) *Error {
	switch c.id.Role {
	case RoleAdmin:
		return nil
	case RoleFrontend:
		return errReadOnly
	}
	mayWrite := func(loc string) bool {
		server, _, _ := strings.Cut(loc, "!")
		return c.id.MayWrite(server)
	}
	if op.Kind != raftfsm.OpDelete && !mayWrite(op.Location) {
		return errNotYourMbox
	}
	if op.Kind != raftfsm.OpReserve {
		if m, _ := c.s.cfg.FSM.Get(op.Name); m != nil && !mayWrite(m.Location) {
			return errNotYourMbox
		}
	}
	if !c.id.anyServer {
		op.OnlyOn = c.id.servers
	}
	return nil
}
