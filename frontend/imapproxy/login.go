package imapproxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapwire"
	"github.com/roost-mail/roost/frontend/internal/saslplain"
	"github.com/roost-mail/roost/frontend/locator"
)

// args parses n astrings from rest, reading literals from the client as
// they come (answering a synchronizing one first). It returns their
// values, the rest of the last segment and the part it is in (p, or the
// one after the last literal read).
func (c *session) args(p imapwire.Part, rest []byte, n int) ([]string, []byte, imapwire.Part, error) {
	var out []string
	for len(out) < n {
		arg, after, err := imapwire.ParseAString(rest)
		if err != nil {
			return out, nil, p, err
		}
		if arg.Kind != imapwire.ArgLiteral {
			out = append(out, string(arg.Value))
			rest = after
			continue
		}
		if p.Literal == nil || p.Literal.Size > maxName {
			return out, nil, p, imapwire.ErrLiteralTooLarge
		}
		if p.Literal.Sync {
			c.w.WriteString("+ go ahead\r\n")
			c.w.Flush()
		}
		v, err := c.r.ReadLiteral(maxName)
		if err != nil {
			return out, nil, p, err
		}
		out = append(out, string(v))
		if p, err = c.r.Next(); err != nil {
			return out, nil, p, err
		}
		rest = p.Line
	}
	return out, rest, p, nil
}

func (c *session) loginAllowed(tag string) bool {
	if c.authenticated() {
		c.r.Discard()
		c.reply(tag, "BAD", "Already authenticated")
		return false
	}
	if c.s.cfg.RequireTLS && !c.tls {
		c.r.Discard()
		c.reply(tag, "NO", "[PRIVACYREQUIRED] TLS is required first (STARTTLS)")
		return false
	}
	return true
}

func (c *session) handleLogin(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	if !c.loginAllowed(cmd.Tag) {
		return nil
	}
	vals, _, _, err := c.args(p, rest, 2)
	if err != nil {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "LOGIN needs a user name and a password")
		return nil
	}
	c.r.Discard()
	return c.login(cmd.Tag, vals[0], vals[1])
}

// handleAuthenticate serves AUTHENTICATE PLAIN, with or without an
// initial response (RFC 4959).
func (c *session) handleAuthenticate(cmd imapwire.Command, rest []byte) error {
	if !c.loginAllowed(cmd.Tag) {
		return nil
	}
	fields := strings.Fields(string(rest))
	c.r.Discard()
	if len(fields) == 0 || !strings.EqualFold(fields[0], "PLAIN") {
		c.reply(cmd.Tag, "NO", "Unsupported mechanism: PLAIN only")
		return nil
	}
	var ir string
	if len(fields) > 1 {
		ir = fields[1]
	} else {
		c.w.WriteString("+ \r\n")
		c.w.Flush()
		p, err := c.r.Next()
		if err != nil {
			return err
		}
		ir = strings.TrimSpace(string(p.Line))
		c.r.Discard()
	}
	user, password, err := saslplain.Decode(ir)
	switch {
	case errors.Is(err, saslplain.ErrCancelled):
		c.reply(cmd.Tag, "BAD", "Authentication cancelled")
		return nil
	case errors.Is(err, saslplain.ErrBase64):
		c.reply(cmd.Tag, "BAD", "Invalid base64")
		return nil
	case err != nil:
		c.reply(cmd.Tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed")
		return nil
	}
	return c.login(cmd.Tag, user, password)
}

// login checks user's password with the backend holding its INBOX, and
// keeps that connection as the session's INBOX backend.
func (c *session) login(tag, user, password string) error {
	ns := c.s.ns
	view := ns.User(user)
	admin := c.s.isAdmin(user)
	if admin {
		view = ns.Admin(user)
	}
	failed := func(why string) error {
		time.Sleep(time.Second) // a guesser's every failure costs it a second
		c.logger.Info("login failed", "user", user, "why", why)
		c.s.m.login("failed")
		c.reply(tag, "NO", "[AUTHENTICATIONFAILED] Authentication failed")
		return nil
	}
	// The INBOX's backend checks the password; an admin, who often has
	// no INBOX, is checked by the default backend or any backend.
	var servers []string
	if e, ok := c.s.cfg.Locator.Lookup(view.Inbox()); ok && !e.Reserved {
		servers = []string{e.Server()}
	} else if admin {
		servers = c.someBackends()
	}
	if len(servers) == 0 {
		return failed("no INBOX in the cache")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b *backend
	var server string
	var err error
	for _, server = range servers {
		if b, err = c.dial(ctx, server); err == nil {
			break
		}
	}
	if err != nil {
		c.logger.Warn("INBOX backend unreachable at login", "server", server, "user", user, "err", err)
		c.s.m.login("unavailable")
		c.s.m.backendFailed(server)
		c.reply(tag, "NO", "[UNAVAILABLE] the backend holding your INBOX is not reachable")
		return nil
	}
	if err := b.login("", user, password); err != nil {
		b.conn.Close()
		c.s.untrack(b.conn)
		var refusal *backendRefusal
		if errors.As(err, &refusal) {
			return failed(err.Error())
		}
		c.s.m.login("unavailable")
		c.reply(tag, "NO", "[UNAVAILABLE] the backend holding your INBOX is not reachable")
		return nil
	}
	c.s.m.login("ok")
	c.user, c.password, c.view = user, password, view
	c.who = acl.User{ID: user, Admin: admin}
	if c.s.cfg.Groups != nil {
		c.who.Groups = c.s.cfg.Groups(user)
	}
	c.backends[server], c.inbox, c.inboxServer = b, b, server
	c.logger.Info("login", "user", user, "server", server, "tls", c.tls)
	c.reply(tag, "OK", "[CAPABILITY %s] User logged in", c.capabilities())
	return nil
}

// someBackends returns where an admin's password may be checked: the
// default backend, then up to a few servers found in the cache.
func (c *session) someBackends() []string {
	var out []string
	if c.s.cfg.DefaultBackend != "" {
		out = append(out, c.s.cfg.DefaultBackend)
	}
	c.s.cfg.Locator.List("", func(e locator.Entry) bool {
		if server := e.Server(); !slices.Contains(out, server) {
			out = append(out, server)
		}
		return len(out) < 4
	})
	return out
}
