package mupdatecompat

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm"
)

// Client speaks MUPDATE to a server, Roost or Cyrus, with the same wire
// code as the server. It is used to import a legacy master's database
// and by tests. Not safe for concurrent use.
type Client struct {
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	dec *wire.Decoder
	w   *wire.Writer
	tag int

	closeOnce sync.Once
	closeErr  error

	// Capabilities are the banner's lines before "* OK", by name.
	Capabilities map[string][]string
}

// ErrProtocol: the server answered something the client cannot read.
var ErrProtocol = errors.New("mupdatecompat: protocol error")

// Dial connects and reads the banner.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc), Capabilities: map[string][]string{}}
	c.dec = wire.NewDecoder(c.br)
	c.dec.ReadsResponses = true
	c.dec.MaxLiteral = raftfsm.MaxACLLen + 1024
	c.w = wire.NewWriter(c.bw)
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
		defer nc.SetDeadline(time.Time{})
	}
	for {
		line, err := c.read()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("mupdatecompat: banner: %w", err)
		}
		if line.Tag != "*" {
			nc.Close()
			return nil, fmt.Errorf("%w: banner line %q", ErrProtocol, line.Tag)
		}
		if line.Name == "OK" {
			return c, nil
		}
		if line.Name == "BYE" {
			nc.Close()
			return nil, fmt.Errorf("mupdatecompat: server said BYE %q", strings.Join(line.Args, " "))
		}
		c.Capabilities[line.Name] = line.Args
	}
}

func (c *Client) read() (*wire.Command, error) {
	line, err := c.dec.ReadCommand()
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("%w: %s", ErrProtocol, se.Msg)
	}
	return line, err
}

func (c *Client) nextTag() string {
	c.tag++
	return fmt.Sprintf("R%d", c.tag)
}

// send writes a command whose arguments are strings.
func (c *Client) send(tag, cmd string, args ...string) error {
	c.w.Line(tag, cmd, args...)
	if err := c.w.Err(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// Authenticate logs in with SASL PLAIN, the initial response sent with
// the command as Cyrus clients do.
func (c *Client) Authenticate(user, password string) error {
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	tag := c.nextTag()
	if err := c.send(tag, "AUTHENTICATE", "PLAIN", ir); err != nil {
		return err
	}
	return c.done(tag, nil)
}

// done reads responses up to the completion of tag; data lines go to
// data (nil: none are expected).
func (c *Client) done(tag string, data func(*wire.Command) error) error {
	for {
		line, err := c.read()
		if err != nil {
			return err
		}
		switch line.Name {
		case "OK":
			return nil
		case "NO", "BAD", "BYE":
			return fmt.Errorf("mupdatecompat: server said %s %q", line.Name, strings.Join(line.Args, " "))
		case "MAILBOX", "RESERVE", "DELETE":
			if data == nil {
				return fmt.Errorf("%w: unexpected %s", ErrProtocol, line.Name)
			}
			if err := data(line); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unexpected %q", ErrProtocol, line.Name)
		}
	}
}

// mailboxOf reads a MAILBOX (name, location, ACL) or RESERVE (name,
// location) line.
func mailboxOf(line *wire.Command) (raftfsm.Mailbox, error) {
	switch {
	case line.Name == "MAILBOX" && len(line.Args) == 3:
		return raftfsm.Mailbox{Name: line.Args[0], State: raftfsm.StateActive, Location: line.Args[1], ACL: line.Args[2]}, nil
	case line.Name == "RESERVE" && len(line.Args) == 2:
		return raftfsm.Mailbox{Name: line.Args[0], State: raftfsm.StateReserved, Location: line.Args[1]}, nil
	}
	return raftfsm.Mailbox{}, fmt.Errorf("%w: malformed %s line", ErrProtocol, line.Name)
}

// Dump runs UPDATE and calls fn for each entry of the server's dump, in
// the server's order, until the dump's OK. The stream that follows is not
// read: close the client afterwards.
func (c *Client) Dump(fn func(raftfsm.Mailbox) error) error {
	tag := c.nextTag()
	if err := c.send(tag, "UPDATE"); err != nil {
		return err
	}
	return c.done(tag, func(line *wire.Command) error {
		if line.Name == "DELETE" {
			return fmt.Errorf("%w: DELETE during a dump", ErrProtocol)
		}
		m, err := mailboxOf(line)
		if err != nil {
			return err
		}
		return fn(m)
	})
}

// Next reads the next change of an UPDATE stream, after Dump: the entry
// (MAILBOX or RESERVE) or, for a DELETE, the name only with deleted set.
func (c *Client) Next() (m raftfsm.Mailbox, deleted bool, err error) {
	for {
		line, err := c.read()
		if err != nil {
			return raftfsm.Mailbox{}, false, err
		}
		switch line.Name {
		case "DELETE":
			if len(line.Args) != 1 {
				return raftfsm.Mailbox{}, false, fmt.Errorf("%w: malformed DELETE line", ErrProtocol)
			}
			return raftfsm.Mailbox{Name: line.Args[0]}, true, nil
		case "MAILBOX", "RESERVE":
			m, err := mailboxOf(line)
			return m, false, err
		case "OK": // a NOOP's answer
		default:
			return raftfsm.Mailbox{}, false, fmt.Errorf("%w: unexpected %q in a stream", ErrProtocol, line.Name)
		}
	}
}

// Find looks a name up; nil when the server has no entry.
func (c *Client) Find(name string) (*raftfsm.Mailbox, error) {
	tag := c.nextTag()
	if err := c.send(tag, "FIND", name); err != nil {
		return nil, err
	}
	var found *raftfsm.Mailbox
	err := c.done(tag, func(line *wire.Command) error {
		m, err := mailboxOf(line)
		found = &m
		return err
	})
	return found, err
}

// List returns the entries whose location starts with locationPrefix
// (RFC 3656 §4.6; "" lists every entry), in the server's order.
func (c *Client) List(locationPrefix string) ([]raftfsm.Mailbox, error) {
	tag := c.nextTag()
	var err error
	if locationPrefix == "" {
		err = c.send(tag, "LIST")
	} else {
		err = c.send(tag, "LIST", locationPrefix)
	}
	if err != nil {
		return nil, err
	}
	var out []raftfsm.Mailbox
	err = c.done(tag, func(line *wire.Command) error {
		m, err := mailboxOf(line)
		out = append(out, m)
		return err
	})
	return out, err
}

// Reserve, Activate, Deactivate and Delete write one entry (RFC 3656
// §4.1-4.4) and return the server's refusal, if any.
func (c *Client) Reserve(name, location string) error { return c.write("RESERVE", name, location) }

// Activate: see Reserve.
func (c *Client) Activate(name, location, acl string) error {
	return c.write("ACTIVATE", name, location, acl)
}

// Deactivate: see Reserve.
func (c *Client) Deactivate(name, location string) error {
	return c.write("DEACTIVATE", name, location)
}

// Delete: see Reserve.
func (c *Client) Delete(name string) error { return c.write("DELETE", name) }

func (c *Client) write(cmd string, args ...string) error {
	tag := c.nextTag()
	if err := c.send(tag, cmd, args...); err != nil {
		return err
	}
	return c.done(tag, nil)
}

// Close logs out and closes the connection. It may be called more than
// once, and from another goroutine to end a blocked Next: only the first
// call does anything.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.send(c.nextTag(), "LOGOUT")
		c.closeErr = c.nc.Close()
	})
	return c.closeErr
}
