package mupdatecompat

import (
	"crypto/tls"
	"time"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
)

// handleStartTLS runs STARTTLS (RFC 3656 §4.10): OK, the handshake, then
// a fresh banner, as Cyrus clients expect. Input the client pipelined
// after the command is discarded. A failed handshake ends only this
// connection. done reports that the connection is finished.
func (c *conn) handleStartTLS(cmd *wire.Command) (done bool, err *Error) {
	switch {
	case c.s.cfg.TLS == nil:
		return false, bad("STARTTLS not available")
	case c.tls:
		return false, bad("Already did a successful Starttls")
	case c.id.Role != 0:
		return false, bad("Can't Starttls after authentication")
	}
	if e := nargs(cmd, 0, 0); e != nil {
		return false, e
	}
	c.ok(cmd.Tag, "Begin TLS negotiation now")
	if c.bw.Flush() != nil {
		return true, nil
	}
	tc := tls.Server(c.nc, c.s.cfg.TLS)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if herr := tc.Handshake(); herr != nil {
		c.logger.Info("TLS handshake failed", "err", herr)
		return true, nil
	}
	tc.SetDeadline(time.Time{})
	c.attach(tc)
	c.tls = true
	c.banner()
	return false, nil
}
