package imapproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/roost-mail/roost/frontend/imapwire"
	"github.com/roost-mail/roost/frontend/locator"
)

// mailboxCmd is a command whose first argument, a mailbox, has been read.
type mailboxCmd struct {
	cmd      imapwire.Command
	internal string        // the mailbox's internal name
	prefix   []byte        // what to send before part (the rewritten start), or nil
	part     imapwire.Part // where forwarding carries on
}

// readMailbox reads the command's mailbox argument; it answers the
// client itself and returns ok false when there is none or it does not
// map.
func (c *session) readMailbox(cmd imapwire.Command, p imapwire.Part, rest []byte) (mailboxCmd, bool) {
	m := mailboxCmd{cmd: cmd, part: p}
	arg, _, err := imapwire.ParseAString(rest)
	if err != nil {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "Missing or malformed mailbox name")
		return m, false
	}
	name := string(arg.Value)
	if arg.Kind == imapwire.ArgLiteral {
		// The name came as a literal: it is sent on as the proxy encodes
		// it, then the rest of the command from the part after it.
		// Text aliases the reader's buffer, which reading the literal reuses.
		head := append([]byte(nil), p.Text()...)
		vals, _, next, err := c.args(p, rest, 1)
		if err != nil {
			c.r.Discard()
			c.reply(cmd.Tag, "BAD", "Malformed mailbox name")
			return m, false
		}
		name = vals[0]
		var buf bytes.Buffer
		w := imapwire.NewWriter(bufio.NewWriter(&buf))
		w.Write(head)
		w.WriteArg(name)
		w.Flush()
		m.prefix, m.part = buf.Bytes(), next
	}
	internal, err := c.view.ToInternal(name)
	if err != nil {
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "Invalid mailbox name")
		return m, false
	}
	m.internal = internal
	return m, true
}

// lookup returns a mailbox's entry if the user may know of it.
func (c *session) lookup(internal string) (locator.Entry, bool) {
	e, ok := c.s.cfg.Locator.Lookup(internal)
	if !ok || e.Reserved {
		return e, false
	}
	return e, true
}

// route forwards m to the backend of the mailbox it names.
func (c *session) route(m mailboxCmd, missing string) (imapwire.Response, *backend, error) {
	e, ok := c.lookup(m.internal)
	if !ok {
		c.r.Discard()
		c.reply(m.cmd.Tag, "NO", "%s", missing)
		return imapwire.Response{Status: "NO"}, nil, nil
	}
	return c.routeTo(m, e.Server())
}

func (c *session) routeTo(m mailboxCmd, server string) (imapwire.Response, *backend, error) {
	b, err := c.backendFor(context.Background(), server)
	if err != nil {
		c.logger.Warn("backend unreachable", "server", server, "user", c.user, "err", err)
		c.r.Discard()
		c.reply(m.cmd.Tag, "NO", "[UNAVAILABLE] the backend holding this mailbox is not reachable")
		return imapwire.Response{Status: "NO"}, nil, nil
	}
	resp, err := c.forwardResp(b, m.cmd, m.part, m.prefix)
	return resp, b, err
}

func (c *session) handleMailbox(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	m, ok := c.readMailbox(cmd, p, rest)
	if !ok {
		return nil
	}
	missing := "[NONEXISTENT] Mailbox does not exist"
	if cmd.Name == "APPEND" {
		missing = "[TRYCREATE] Mailbox does not exist"
	}
	_, _, err := c.route(m, missing)
	return err
}

func (c *session) handleSelect(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	m, ok := c.readMailbox(cmd, p, rest)
	if !ok {
		return nil
	}
	e, found := c.lookup(m.internal)
	if !found {
		c.r.Discard()
		c.deselect()
		c.reply(cmd.Tag, "NO", "[NONEXISTENT] Mailbox does not exist")
		return nil
	}
	if prev := c.selected; prev != nil && prev.server != e.Server() {
		// The new backend knows nothing of the old mailbox: the proxy
		// says it is closed, as one server would (RFC 9051 section 7.1).
		c.deselect()
		c.untagged("OK [CLOSED] Previous mailbox is now closed")
	}
	resp, b, err := c.routeTo(m, e.Server())
	if err != nil {
		return err
	}
	c.selected = nil
	if resp.Status == "OK" {
		c.selected, c.selectedName = b, m.internal
	}
	return nil
}

// deselect leaves the selected mailbox on its backend without expunging,
// before a SELECT elsewhere.
func (c *session) deselect() {
	b := c.selected
	if b == nil {
		return
	}
	c.selected = nil
	command := "CLOSE"
	if b.has("UNSELECT") {
		command = "UNSELECT"
	}
	if _, err := b.simple(command); err != nil && errors.Is(err, errBackendGone) {
		c.dropBackend(b)
	}
}

// waitCache waits, bounded, until the cache shows what a backend just
// did, so that the client's next LIST or SELECT sees it.
func (c *session) waitCache(cond func() bool) {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.CacheWait)
	defer cancel()
	if err := c.s.cfg.Locator.WaitFor(ctx, cond); err != nil {
		c.logger.Warn("the cache did not show a change in time", "user", c.user, "wait", c.s.cfg.CacheWait)
	}
}

func (c *session) exists(internal string) func() bool {
	return func() bool { _, ok := c.lookup(internal); return ok }
}

func (c *session) handleCreate(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	m, ok := c.readMailbox(cmd, p, rest)
	if !ok {
		return nil
	}
	if _, found := c.s.cfg.Locator.Lookup(m.internal); found {
		// As Cyrus: a name the user may not see is not confirmed to exist.
		c.r.Discard()
		if c.rights(m.internal).Has("l") {
			c.reply(cmd.Tag, "NO", "[ALREADYEXISTS] Mailbox already exists")
		} else {
			c.reply(cmd.Tag, "NO", "Permission denied")
		}
		return nil
	}
	resp, _, err := c.routeTo(m, c.placement(m.internal))
	if err == nil && resp.Status == "OK" {
		c.waitCache(c.exists(m.internal))
	}
	return err
}

// placement is the server a new mailbox goes to: its nearest existing
// ancestor's, else the default backend, else the one with the fewest
// mailboxes (mboxlist_findparent and the murder's CREATE).
func (c *session) placement(internal string) string {
	if server, ok := c.parentServer(internal); ok {
		return server
	}
	if c.s.cfg.DefaultBackend != "" {
		return c.s.cfg.DefaultBackend
	}
	best, n := c.inboxServer, -1
	for server, k := range c.s.cfg.Locator.Servers() {
		if n < 0 || k < n || k == n && server < best {
			best, n = server, k
		}
	}
	return best
}

func (c *session) handleDelete(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	m, ok := c.readMailbox(cmd, p, rest)
	if !ok {
		return nil
	}
	resp, _, err := c.route(m, "[NONEXISTENT] Mailbox does not exist")
	if err == nil && resp.Status == "OK" {
		c.waitCache(func() bool { return !c.exists(m.internal)() })
	}
	return err
}

func (c *session) handleRename(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	vals, after, last, err := c.args(p, rest, 2)
	if err != nil {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "RENAME needs two mailbox names")
		return nil
	}
	from, err1 := c.view.ToInternal(vals[0])
	to, err2 := c.view.ToInternal(vals[1])
	if err1 != nil || err2 != nil {
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "Invalid mailbox name")
		return nil
	}
	e, ok := c.lookup(from)
	if !ok {
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "[NONEXISTENT] Mailbox does not exist")
		return nil
	}
	if bytes.IndexByte(after, '!') >= 0 || last.Literal != nil {
		// RENAME old new server!partition is Cyrus's move to another
		// backend (XFER), which needs the backends to move the messages.
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "[CANNOT] Moving a mailbox to another server is not supported")
		return nil
	}
	if dest, ok := c.parentServer(to); ok && dest != e.Server() {
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "Cross-server or cross-partition move w/rename not supported")
		return nil
	}
	var buf bytes.Buffer
	w := imapwire.NewWriter(bufio.NewWriter(&buf))
	w.WriteString(cmd.Tag + " RENAME ")
	w.WriteArg(vals[0])
	w.WriteString(" ")
	w.WriteArg(vals[1])
	w.Flush()
	// What follows the names (a partition) goes on as the client sent it.
	tail := last
	tail.Line = after
	m := mailboxCmd{cmd: cmd, internal: from, prefix: buf.Bytes(), part: tail}
	resp, _, err := c.routeTo(m, e.Server())
	if err == nil && resp.Status == "OK" {
		c.waitCache(func() bool { return c.exists(to)() && !c.exists(from)() })
	}
	return err
}

// parentServer returns the server of a name's nearest existing
// ancestor, where Cyrus's CREATE puts it.
func (c *session) parentServer(internal string) (string, bool) {
	for name, ok := c.s.ns.Parent(internal); ok; name, ok = c.s.ns.Parent(name) {
		if e, found := c.s.cfg.Locator.Lookup(name); found {
			return e.Server(), true
		}
	}
	return "", false
}

func (c *session) inboxExists() bool {
	_, ok := c.lookup(c.view.Inbox())
	return ok
}

// handleGetMetadata routes GETMETADATA, whose mailbox may be a
// parenthesised list (as Cyrus takes it): to the one backend holding them
// all, or to each backend with its own mailboxes of the list, the
// replies merged.
func (c *session) handleGetMetadata(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	after := rest
	if opts, more, ok := parenthesised(rest); ok {
		word, _, _ := strings.Cut(strings.TrimSpace(opts), " ")
		if w := strings.ToUpper(word); w == "MAXSIZE" || w == "DEPTH" {
			after = more // RFC 5464 options, before the mailbox
		}
	}
	inside, tail, ok := parenthesised(after)
	if !ok {
		if arg, _, err := imapwire.ParseAString(after); err == nil && arg.Kind != imapwire.ArgLiteral && len(arg.Value) == 0 {
			// "": the server's own annotations, the INBOX's backend's.
			return c.forward(c.inboxBackend(), cmd, p)
		}
		return c.handleMailbox(cmd, p, after)
	}
	options := rest[:len(rest)-len(after)]
	var servers []string
	byServer := map[string][]string{}
	var first string
	for list := " " + inside; strings.TrimSpace(list) != ""; {
		arg, more, err := imapwire.ParseAString([]byte(list))
		if err != nil || arg.Kind == imapwire.ArgLiteral {
			c.r.Discard()
			c.reply(cmd.Tag, "BAD", "Malformed mailbox list")
			return nil
		}
		list = string(more)
		internal, err := c.view.ToInternal(string(arg.Value))
		if err != nil {
			c.r.Discard()
			c.reply(cmd.Tag, "NO", "Invalid mailbox name")
			return nil
		}
		e, found := c.lookup(internal)
		if !found {
			c.r.Discard()
			c.reply(cmd.Tag, "NO", "[NONEXISTENT] Mailbox does not exist")
			return nil
		}
		if first == "" {
			first = internal
		}
		if _, seen := byServer[e.Server()]; !seen {
			servers = append(servers, e.Server())
		}
		byServer[e.Server()] = append(byServer[e.Server()], string(arg.Raw))
	}
	if len(servers) == 0 {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "Empty mailbox list")
		return nil
	}
	if len(servers) == 1 {
		_, _, err := c.routeTo(mailboxCmd{cmd: cmd, internal: first, part: p}, servers[0])
		return err
	}
	if p.Literal != nil {
		c.r.Discard()
		c.reply(cmd.Tag, "NO", "GETMETADATA of mailboxes on several servers takes no literals")
		return nil
	}
	for _, server := range servers {
		b, err := c.backendFor(context.Background(), server)
		if err != nil {
			c.reply(cmd.Tag, "NO", "[UNAVAILABLE] the backend holding a mailbox is not reachable")
			return nil
		}
		tag := b.tag()
		fmt.Fprintf(b.w, "%s GETMETADATA%s (%s)%s\r\n", tag, options, strings.Join(byServer[server], " "), tail)
		resp, err := c.relayOwn(b, tag)
		if err != nil {
			_, err := c.lost(b, cmd, err)
			return err
		}
		if resp.Status != "OK" {
			c.reply(cmd.Tag, resp.Status, "%s", resp.Text)
			return nil
		}
	}
	c.reply(cmd.Tag, "OK", "Completed")
	return nil
}
