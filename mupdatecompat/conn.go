package mupdatecompat

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm/auth"
)

// conn is one client connection. Its goroutine owns everything in it.
type conn struct {
	s      *Server
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	dec    *wire.Decoder
	w      *wire.Writer
	logger *slog.Logger

	id  auth.Identity // authenticated identity; zero Role before AUTHENTICATE
	tls bool          // the connection is encrypted
	// seen is the revision of the newest write this connection was
	// answered for: its LIST and UPDATE wait until the local state holds
	// it. pending holds, by name, the revision of each write the local
	// state may not hold yet, so that a FIND waits only for writes to the
	// name it asks about.
	seen    uint64
	pending map[string]uint64
	// unsure is set by a write whose outcome is unknown: the next read
	// confirms with the leader, so that it shows what became of it.
	unsure bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, logger: s.logger.With("remote_addr", nc.RemoteAddr().String())}
	_, c.tls = nc.(*tls.Conn)
	c.attach(nc)
	return c
}

// attach sets up reading and writing over nc (again after STARTTLS).
func (c *conn) attach(nc net.Conn) {
	s := c.s
	c.nc, c.br = nc, bufio.NewReader(nc)
	c.bw = bufio.NewWriter(deadlineWriter{nc, s.cfg.StreamWriteTimeout})
	c.w = wire.NewWriter(c.bw)
	c.dec = wire.NewDecoder(c.br)
	c.dec.MaxLine, c.dec.MaxLiteral = s.cfg.MaxLine, s.cfg.MaxLiteral
	c.dec.GoAhead = func() error {
		// The buffered writer keeps a failed write's error for Flush.
		c.w.Raw("+ go ahead")
		return c.bw.Flush()
	}
}

// deadlineWriter gives every write to the connection a deadline of its
// own: a client that stops reading its replies cannot hold the
// connection's goroutine, however long a dump or listing it asked for.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.nc.Write(p)
}

// banner is sent on connect (RFC 3656 §3.1). Cyrus clients read
// capability lines until the one starting with "* OK".
func (c *conn) banner() {
	if c.s.cfg.RequireTLS && !c.tls {
		c.w.Raw(`* AUTH`)
	} else {
		c.w.Raw(`* AUTH "PLAIN" "LOGIN"`)
	}
	if c.s.cfg.TLS != nil && !c.tls {
		c.w.Raw(`* STARTTLS`)
	}
	c.w.Raw(`* PARTIAL-UPDATE`)
	c.w.Line("*", "OK MUPDATE", c.s.cfg.ServerName, "Roost", "1", "(master)")
}

func (c *conn) serve() {
	defer c.nc.Close()
	c.logger.Debug("connection opened")
	c.banner()
	if c.bw.Flush() != nil {
		return
	}
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		cmd, err := c.dec.ReadCommand()
		var se *wire.SyntaxError
		switch {
		case errors.As(err, &se):
			tag := se.Tag
			if tag == "" {
				tag = "*"
			}
			c.reply(tag, bad(se.Msg))
			c.s.cfg.Metrics.Command("unparsed", "bad", "syntax")
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.w.Line("*", "BYE", "idle for too long")
				c.bw.Flush()
			}
			return
		default:
			if done := c.dispatch(cmd); done {
				c.bw.Flush()
				return
			}
		}
		// Pipelined commands are answered in order and sent together.
		if c.br.Buffered() == 0 && c.bw.Flush() != nil {
			return
		}
	}
}

// reply sends a completion; a nil error is `OK`.
func (c *conn) reply(tag string, err *Error) {
	c.w.Line(tag, err.Kind, err.Text)
}

func (c *conn) ok(tag, text string) { c.w.Line(tag, "OK", text) }

// dispatch runs one command and reports whether the connection is done.
func (c *conn) dispatch(cmd *wire.Command) bool {
	var err *Error
	switch cmd.Name {
	case "LOGOUT":
		c.ok(cmd.Tag, "bye-bye")
		c.count(cmd.Name, nil)
		return true
	case "AUTHENTICATE":
		if c.s.cfg.RequireTLS && !c.tls {
			err = no("encryption required: use STARTTLS")
			break
		}
		err = c.handleAuthenticate(cmd)
	case "STARTTLS":
		var done bool
		if done, err = c.handleStartTLS(cmd); done {
			return true
		}
	case "UPDATE":
		if c.id.Role == 0 {
			err = errLoginFirst
			break
		}
		if err = c.handleUpdate(cmd); err == nil {
			return true // the stream has ended with the connection
		}
	case "NOOP", "FIND", "LIST", "RESERVE", "ACTIVATE", "DEACTIVATE", "DELETE":
		if c.id.Role == 0 {
			err = errLoginFirst
			break
		}
		err = c.handle(cmd)
	default:
		err = errUnknown
	}
	if err != nil {
		c.reply(cmd.Tag, err)
	}
	c.count(cmd.Name, err)
	return false
}

// count tells Metrics of a command's outcome.
func (c *conn) count(name string, err *Error) {
	switch name {
	case "LOGOUT", "AUTHENTICATE", "STARTTLS", "UPDATE", "NOOP", "FIND", "LIST", "RESERVE", "ACTIVATE", "DEACTIVATE", "DELETE":
	default:
		name = "unknown" // a client's word, kept out of the label values
	}
	if err == nil {
		c.s.cfg.Metrics.Command(name, "ok", "")
		return
	}
	c.s.cfg.Metrics.Command(name, strings.ToLower(err.Kind), err.Reason)
}

// handle runs an authenticated command.
func (c *conn) handle(cmd *wire.Command) *Error {
	switch cmd.Name {
	case "NOOP":
		if err := nargs(cmd, 0, 0); err != nil {
			return err
		}
		c.ok(cmd.Tag, "Noop done")
		return nil
	case "FIND":
		return c.handleFind(cmd)
	case "LIST":
		return c.handleList(cmd)
	}
	return c.handleWrite(cmd)
}

// nargs checks the argument count.
func nargs(cmd *wire.Command, lo, hi int) *Error {
	switch {
	case len(cmd.Args) < lo:
		return errMissingArgs
	case len(cmd.Args) > hi:
		return errExtraArgs
	}
	return nil
}

// catchUp waits until the local state is new enough for a read on this
// connection: it holds the connection's last write, or, with
// LinearizableReads, everything the leader had committed. A follower
// answers a forwarded write once the leader has committed it, which may
// be before the follower has applied it; the read that follows pays for
// that, not every write.
func (c *conn) catchUp() *Error { return c.catchUpTo(c.seen) }

// catchUpFor is catchUp for a FIND of name, whose answer depends only on
// the connection's writes to that name: ctl_mboxlist -m sends a FIND of a
// new name after every ACTIVATE, and must not wait for each ACTIVATE to
// reach the follower.
func (c *conn) catchUpFor(name string) *Error { return c.catchUpTo(c.pending[name]) }

func (c *conn) catchUpTo(index uint64) *Error {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.ReadWait)
	defer cancel()
	var err error
	if c.s.cfg.LinearizableReads || c.unsure {
		err = c.s.cfg.Cluster.ReadIndex(ctx)
	} else {
		err = c.s.cfg.FSM.WaitIndex(ctx, index)
	}
	if err != nil {
		c.logger.Warn("read refused: this node has not caught up", "index", index, "err", err)
		return errBehind
	}
	c.unsure = false
	return nil
}

// wrote records that a write to name was answered at revision rev.
// Entries the local state holds are dropped as more come, so the map
// stays as small as the follower's lag.
func (c *conn) wrote(name string, rev uint64) {
	c.seen = max(c.seen, rev)
	if c.pending == nil {
		c.pending = map[string]uint64{}
	}
	if len(c.pending) >= 64 {
		applied := c.s.cfg.FSM.AppliedIndex()
		for n, r := range c.pending {
			if r <= applied {
				delete(c.pending, n)
			}
		}
	}
	c.pending[name] = max(c.pending[name], rev)
}

// writeContext bounds a write: Cyrus clients wait for the answer forever.
func (c *conn) writeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.s.cfg.WriteTimeout)
}
