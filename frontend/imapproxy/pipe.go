package imapproxy

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/imapwire"
)

// backendReadTimeout bounds a wait for a backend's next response line
// (IDLE waits as long as the client may stay idle).
const backendReadTimeout = 10 * time.Minute

// forward sends the client's command, whose first part is p, to b and
// relays b's responses until its completion, which it returns to the
// caller as well. A backend that breaks is dropped and the client told
// NO [UNAVAILABLE].
func (c *session) forward(b *backend, cmd imapwire.Command, p imapwire.Part) error {
	_, err := c.forwardResp(b, cmd, p, nil)
	return err
}

// forwardResp is forward with prefix, when set, written before p: the
// start of a command the proxy rewrote. It returns the completion.
func (c *session) forwardResp(b *backend, cmd imapwire.Command, p imapwire.Part, prefix []byte) (imapwire.Response, error) {
	if b == nil {
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "[UNAVAILABLE] the backend is not reachable")
		return imapwire.Response{Status: "NO"}, nil
	}
	c.s.m.command(b.server)
	if err := c.sendCommand(b, p, prefix); err != nil {
		return c.lost(b, cmd, err)
	}
	resp, err := c.relay(b, cmd.Tag, true)
	if errors.Is(err, errDesync) {
		c.dropBackend(b)
		return resp, err
	}
	if err != nil {
		return c.lost(b, cmd, err)
	}
	return resp, nil
}

// lost answers a command whose backend broke, and forgets the backend.
// The session goes on: other backends are unaffected.
func (c *session) lost(b *backend, cmd imapwire.Command, err error) (imapwire.Response, error) {
	c.logger.Warn("backend connection lost", "server", b.server, "user", c.user, "err", err)
	c.s.m.backendFailed(b.server)
	c.dropBackend(b)
	c.r.Discard()
	c.reply(cmd.Tag, "NO", "[UNAVAILABLE] the backend connection was lost")
	return imapwire.Response{Status: "NO"}, nil
}

// sendCommand writes the client's command to b, streaming its literals.
// The proxy answers a synchronizing literal itself and sends it on as
// non-synchronizing (LITERAL+, which Cyrus backends have), as Cyrus's
// frontend does: one round trip to the backend is saved per literal.
func (c *session) sendCommand(b *backend, p imapwire.Part, prefix []byte) error {
	if _, err := b.w.Write(prefix); err != nil {
		return err
	}
	for {
		text := p.Line
		if p.Literal != nil {
			text = p.Text()
		}
		if _, err := b.w.Write(text); err != nil {
			return err
		}
		if p.Literal == nil {
			_, err := b.w.WriteString("\r\n")
			if err == nil {
				err = b.w.Flush()
			}
			return err
		}
		if p.Literal.Sync {
			c.w.WriteString("+ go ahead\r\n")
			c.w.Flush()
		}
		if err := b.w.WriteLiteralHeader(imapwire.Literal{Size: p.Literal.Size, Binary: p.Literal.Binary}); err != nil {
			return err
		}
		if _, err := io.Copy(b.w, p.Literal.Body); err != nil {
			return fmt.Errorf("client literal: %w", err)
		}
		var err error
		if p, err = c.r.Next(); err != nil {
			return fmt.Errorf("client: %w", err)
		}
	}
}

// relay copies b's responses to the client until the one tagged tag,
// streaming literals, and returns it.
// With flush false the caller has flushed b and another goroutine may be
// writing to it (IDLE's DONE), and the wait is as long as IdleTimeout.
func (c *session) relay(b *backend, tag string, flush bool) (imapwire.Response, error) {
	timeout := backendReadTimeout
	if flush {
		if err := b.w.Flush(); err != nil {
			return imapwire.Response{}, err
		}
	} else {
		timeout = max(timeout, c.s.cfg.IdleTimeout+time.Minute)
	}
	start := true
	for {
		b.conn.SetReadDeadline(time.Now().Add(timeout))
		p, err := b.r.Next()
		if err != nil {
			if !start {
				return imapwire.Response{}, fmt.Errorf("%w: %v", errDesync, err)
			}
			return imapwire.Response{}, fmt.Errorf("%w: %v", errBackendGone, err)
		}
		var resp imapwire.Response
		if start {
			resp, _ = imapwire.ParseResponse(p.Line)
		}
		if start && resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
			line := append([]byte(nil), p.Line...)
			b.r.Discard()
			c.pollSelected(b)
			c.w.Write(line)
			c.w.WriteString("\r\n")
			return resp, c.w.Flush()
		}
		if start && resp.Kind == imapwire.ResponseContinuation && flush {
			// A backend asking for more (AUTHENTICATE-style exchanges):
			// pass the request on and the client's answer back.
			c.w.WritePart(p)
			c.w.Flush()
			cp, err := c.r.Next()
			if err != nil {
				return resp, fmt.Errorf("client: %w", err)
			}
			if err := c.sendCommand(b, cp, nil); err != nil {
				return resp, err
			}
			continue
		}
		if err := c.w.WritePart(p); err != nil {
			return resp, err
		}
		start = p.Literal == nil && !p.Partial
	}
}

// idle runs IDLE on b: after the backend's continuation the client's DONE
// is read and passed on while the backend's updates are relayed.
func (c *session) idle(b *backend, cmd imapwire.Command, p imapwire.Part) error {
	if b == nil {
		c.reply(cmd.Tag, "NO", "[UNAVAILABLE] the backend is not reachable")
		return nil
	}
	if err := c.sendCommand(b, p, nil); err != nil {
		_, err := c.lost(b, cmd, err)
		return err
	}
	// Wait for the continuation, relaying what comes first.
	for {
		b.conn.SetReadDeadline(time.Now().Add(backendReadTimeout))
		p, err := b.r.Next()
		if err != nil {
			_, err := c.lost(b, cmd, err)
			return err
		}
		resp, _ := imapwire.ParseResponse(p.Line)
		c.w.WritePart(p)
		if resp.Kind == imapwire.ResponseTagged && resp.Tag == cmd.Tag {
			return c.w.Flush()
		}
		if resp.Kind == imapwire.ResponseContinuation {
			break
		}
		if p.Literal != nil || p.Partial {
			if err := c.finishResponse(b); err != nil {
				return err
			}
		}
	}
	c.w.Flush()
	// The relay runs beside a wait for the client's next octet. The
	// proxy itself sends the backend DONE, so that nothing of the
	// client's reaches a backend that may already have ended IDLE: the
	// client's DONE is consumed, anything else it sends ends IDLE too and
	// is left to the session's loop, as is whatever follows a backend's
	// own end of IDLE.
	relayed := make(chan error, 1)
	go func() {
		_, err := c.relay(b, cmd.Tag, false)
		relayed <- err
	}()
	clientReady := make(chan error, 1)
	c.conn.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	go func() {
		_, err := c.br.Peek(1)
		clientReady <- err
	}()
	var rerr error
	select {
	case err := <-clientReady:
		if err == nil {
			err = c.consumeDone()
		}
		if err != nil {
			// The session is over: wake the relay.
			b.conn.Close()
			<-relayed
			return err
		}
		select {
		case rerr = <-relayed: // the backend ended IDLE first
		default:
			b.w.WriteString("DONE\r\n")
			if err := b.w.Flush(); err != nil {
				b.conn.Close()
			}
			if rerr = <-relayed; rerr == nil {
				rerr = c.afterDone(b)
			}
		}
	case rerr = <-relayed:
		c.conn.SetReadDeadline(time.Now()) // wake the peek
		<-clientReady
		c.conn.SetReadDeadline(time.Time{})
		// The client may be sending DONE as the backend ended IDLE: the
		// session's loop passes over it.
		c.idleEnded = true
	}
	if rerr != nil {
		_, err := c.lost(b, cmd, rerr)
		return err
	}
	return nil
}

// afterDone runs a NOOP of the proxy's own on b after it sent DONE: if
// the backend had ended IDLE by itself just before, it answers that DONE
// as a command (DONE BAD), and the answer is dropped here instead of
// reaching the client with the next command. What else comes is relayed.
func (c *session) afterDone(b *backend) error {
	tag := b.tag()
	fmt.Fprintf(b.w, "%s NOOP\r\n", tag)
	if err := b.w.Flush(); err != nil {
		return err
	}
	for start := true; ; {
		b.conn.SetReadDeadline(time.Now().Add(backendReadTimeout))
		p, err := b.r.Next()
		if err != nil {
			return err
		}
		if start {
			resp, _ := imapwire.ParseResponse(p.Line)
			if resp.Kind == imapwire.ResponseTagged && (resp.Tag == tag || resp.Tag == "DONE") {
				if err := b.r.Discard(); err != nil || resp.Tag == tag {
					return err
				}
				continue
			}
		}
		if err := c.w.WritePart(p); err != nil {
			return err
		}
		start = p.Literal == nil && !p.Partial
	}
}

// consumeDone reads the client's DONE line (CRLF or a bare LF) if that
// is what it sent, and leaves anything else unread. It waits for as many
// octets as it takes to tell.
func (c *session) consumeDone() error {
	for n := 1; ; n++ {
		got, err := c.br.Peek(n)
		if err != nil {
			return err
		}
		switch {
		case n <= 4:
			if !strings.EqualFold(string(got), "DONE"[:n]) {
				return nil
			}
		case got[n-1] == '\n' && (n == 5 || got[4] == '\r'):
			_, err := c.br.Discard(n)
			return err
		case n == 5 && got[4] == '\r':
		default:
			return nil
		}
	}
}

// finishResponse relays the rest of a response whose literal began it.
func (c *session) finishResponse(b *backend) error {
	for {
		p, err := b.r.Next()
		if err != nil {
			return errors.Join(errBackendGone, err)
		}
		c.w.WritePart(p)
		if p.Literal == nil && !p.Partial {
			return nil
		}
	}
}

// pollSelected, after a command went to backend b while a mailbox on
// another backend is selected, asks that backend for what changed
// meanwhile (NOOP) and relays it, as Cyrus's frontend does: the client
// hears of new and expunged messages before the command completes.
func (c *session) pollSelected(b *backend) {
	sel := c.selected
	if sel == nil || sel == b {
		return
	}
	tag := sel.tag()
	fmt.Fprintf(sel.w, "%s NOOP\r\n", tag)
	if err := c.relayUntagged(sel, tag); err != nil {
		c.logger.Warn("backend connection lost", "server", sel.server, "user", c.user, "err", err)
		c.s.m.backendFailed(sel.server)
		c.dropBackend(sel)
	}
}
