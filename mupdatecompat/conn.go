package mupdatecompat

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
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

	user string // authenticated identity; empty before AUTHENTICATE
	role Role
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc),
		logger: s.logger.With("remote_addr", nc.RemoteAddr().String())}
	c.dec = wire.NewDecoder(c.br)
	c.dec.MaxLine, c.dec.MaxLiteral = s.cfg.MaxLine, s.cfg.MaxLiteral
	c.dec.GoAhead = func() error {
		if _, err := c.bw.WriteString("+ go ahead\r\n"); err != nil {
			return err
		}
		return c.bw.Flush()
	}
	c.w = wire.NewWriter(c.bw)
	return c
}

// banner is sent on connect (RFC 3656 §3.1). Cyrus clients read
// capability lines until the one starting with "* OK".
func (c *conn) banner() {
	c.w.Raw(`* AUTH "PLAIN" "LOGIN"`)
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
		case err != nil:
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.w.Line("*", "BYE", "idle for too long")
				c.bw.Flush()
			}
			return
		default:
			// A client that stops reading its replies must not hold the
			// connection's goroutine forever.
			c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.StreamWriteTimeout))
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
		return true
	case "AUTHENTICATE":
		err = c.handleAuthenticate(cmd)
	case "UPDATE":
		if c.role == 0 {
			err = errLoginFirst
			break
		}
		if err = c.handleUpdate(cmd); err == nil {
			return true // the stream has ended with the connection
		}
	case "NOOP", "FIND", "LIST", "RESERVE", "ACTIVATE", "DEACTIVATE", "DELETE":
		if c.role == 0 {
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
	return false
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

// writeContext bounds a write: Cyrus clients wait for the answer forever.
func (c *conn) writeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.s.cfg.WriteTimeout)
}
