package mupdatecompat

import (
	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm"
)

// handleList answers LIST [location-prefix] (RFC 3656 §4.6) from a frozen
// view of the local state, in the order Cyrus backends keep their
// mailboxes.db: ctl_mboxlist -m merge-walks this list against its own.
// The view never blocks writers, however long the list.
func (c *conn) handleList(cmd *wire.Command) *Error {
	if err := nargs(cmd, 0, 1); err != nil {
		return err
	}
	if err := c.catchUp(); err != nil {
		return err
	}
	opts := raftfsm.ListOptions{}
	if len(cmd.Args) == 1 {
		opts.LocationPrefix = cmd.Args[0]
	}
	var werr error
	c.s.cfg.FSM.View().List(opts, func(m raftfsm.Mailbox) bool {
		c.writeMailbox(cmd.Tag, m)
		// bufio flushes as it fills; a write error ends the listing.
		werr = c.w.Err()
		return werr == nil
	})
	if werr != nil {
		return nil
	}
	c.ok(cmd.Tag, "list complete")
	return nil
}
