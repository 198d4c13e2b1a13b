package imapproxy

import (
	"github.com/roost-mail/roost/frontend/imapwire"
)

// handleCopy runs COPY and MOVE (and their UID forms) on the selected
// mailbox's backend when the destination lives there too.
func (c *session) handleCopy(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	if c.selected == nil {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "No mailbox selected")
		return nil
	}
	// The destination is the last argument: a set, then the mailbox.
	if p.Literal == nil {
		if dest, ok := lastMailbox(rest); ok {
			internal, err := c.view.ToInternal(dest)
			if err == nil {
				if e, found := c.lookup(internal); found && e.Server() != c.selected.server {
					c.reply(cmd.Tag, "NO", "[CANNOT] COPY and MOVE to a mailbox on another backend are not supported yet")
					return nil
				}
			}
		}
	}
	return c.forward(c.selected, cmd, p)
}

// lastMailbox returns the mailbox after COPY's sequence set.
func lastMailbox(rest []byte) (string, bool) {
	for i := 0; i < len(rest); i++ {
		if rest[i] != ' ' {
			for j := i; j < len(rest); j++ {
				if rest[j] == ' ' {
					arg, _, err := imapwire.ParseAString(rest[j:])
					return string(arg.Value), err == nil
				}
			}
			return "", false
		}
	}
	return "", false
}
