package mupdatecompat

import (
	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm"
)

// handleFind answers FIND name (RFC 3656 §4.5) from the local state, once
// it holds the connection's own writes to name (catchUpFor): at most one
// MAILBOX or RESERVE line tagged like the command, then OK.
func (c *conn) handleFind(cmd *wire.Command) *Error {
	if err := nargs(cmd, 1, 1); err != nil {
		return err
	}
	if err := c.catchUpFor(cmd.Args[0]); err != nil {
		return err
	}
	if m, _ := c.s.cfg.FSM.Get(cmd.Args[0]); m != nil {
		c.writeMailbox(cmd.Tag, *m)
	}
	c.ok(cmd.Tag, "Search completed")
	return nil
}

// writeMailbox writes an entry as MAILBOX (active) or RESERVE.
func (c *conn) writeMailbox(tag string, m raftfsm.Mailbox) {
	if m.State == raftfsm.StateActive {
		c.w.Line(tag, "MAILBOX", m.Name, m.Location, m.ACL)
		return
	}
	c.w.Line(tag, "RESERVE", m.Name, m.Location)
}
