package imapproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapwire"
	"github.com/roost-mail/roost/frontend/locator"
)

// handleList answers LIST from the cache: every mailbox whose external
// name matches and on which the user has the l right. With LIST-EXTENDED
// selection or return options (SUBSCRIBED, SPECIAL-USE, STATUS), which
// only backends know, it is sent to every backend holding a mailbox the
// user may see, as Cyrus's frontend does, and their replies merged.
func (c *session) handleList(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	if p.Literal != nil {
		return c.forward(c.inboxBackend(), cmd, p)
	}
	if bytes.HasPrefix(bytes.TrimLeft(rest, " "), []byte("(")) {
		return c.listEverywhere(cmd, rest)
	}
	ref, after, err := imapwire.ParseAString(rest)
	if err != nil {
		c.reply(cmd.Tag, "BAD", "LIST needs a reference and a mailbox pattern")
		return nil
	}
	pat, after, err := imapwire.ParseListMailbox(after)
	if err != nil {
		c.reply(cmd.Tag, "BAD", "LIST needs a reference and a mailbox pattern")
		return nil
	}
	if len(bytes.TrimSpace(after)) > 0 {
		return c.listEverywhere(cmd, rest) // RETURN (...)
	}
	sep := c.view.HierSep()
	if len(pat.Value) == 0 {
		c.untagged(`LIST (\Noselect) "%c" ""`, sep)
		c.reply(cmd.Tag, "OK", "Completed")
		return nil
	}
	pattern := string(ref.Value) + string(pat.Value)
	c.listMatching(pattern, sep)
	c.reply(cmd.Tag, "OK", "Completed")
	return nil
}

// listMatching writes a LIST line for each visible mailbox matching
// pattern.
func (c *session) listMatching(pattern string, sep byte) {
	owner := acl.Parse(acl.DefaultOwnerRights)
	var names []locator.Entry
	c.s.cfg.Locator.List("", func(e locator.Entry) bool {
		if !e.Reserved {
			names = append(names, e)
		}
		return true
	})
	for i, e := range names {
		ext, ok := c.view.Listed(e.Name, false)
		if !ok || !matchList(pattern, ext, sep) {
			continue
		}
		o, isUser := c.s.ns.Owner(e.Name)
		rights, _ := acl.Of(c.who, e.ACL, isUser && o == c.user, owner)
		if !rights.Has("l") {
			continue
		}
		attr := `\HasNoChildren`
		if i+1 < len(names) && strings.HasPrefix(names[i+1].Name, e.Name+".") {
			attr = `\HasChildren`
		}
		var buf bytes.Buffer
		w := imapwire.NewWriter(bufio.NewWriter(&buf))
		w.WriteString("* LIST (" + attr + `) "` + string(sep) + `" `)
		w.WriteArg(ext)
		w.WriteString("\r\n")
		w.Flush()
		c.w.Write(buf.Bytes())
	}
}

// matchList matches an external name against a LIST pattern: * matches
// anything, % anything but the separator, INBOX any case (RFC 9051
// section 6.3.9).
func matchList(pattern, name string, sep byte) bool {
	if len(name) >= 5 && strings.EqualFold(name[:5], "INBOX") && (len(name) == 5 || name[5] == sep) &&
		len(pattern) >= 5 && strings.EqualFold(pattern[:5], "INBOX") {
		name, pattern = "INBOX"+name[5:], "INBOX"+pattern[5:]
	}
	return match(pattern, name, sep)
}

func match(p, s string, sep byte) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if match(p[1:], s[i:], sep) {
					return true
				}
			}
			return false
		case '%':
			for i := 0; i <= len(s); i++ {
				if match(p[1:], s[i:], sep) {
					return true
				}
				if i < len(s) && s[i] == sep {
					return false
				}
			}
			return false
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return len(s) == 0
}

// listEverywhere sends an extended LIST to the INBOX's backend and every
// other backend holding a mailbox the user has l on, relays their
// untagged replies, and completes the client's command once all have.
func (c *session) listEverywhere(cmd imapwire.Command, rest []byte) error {
	servers := []string{c.inboxServer}
	seen := map[string]bool{c.inboxServer: true}
	owner := acl.Parse(acl.DefaultOwnerRights)
	c.s.cfg.Locator.List("", func(e locator.Entry) bool {
		if server := e.Server(); !seen[server] && !e.Reserved {
			o, isUser := c.s.ns.Owner(e.Name)
			if r, _ := acl.Of(c.who, e.ACL, isUser && o == c.user, owner); r.Has("l") {
				seen[server] = true
				servers = append(servers, server)
			}
		}
		return true
	})
	line := "LIST" + string(rest)
	for _, server := range servers {
		b, err := c.backendFor(context.Background(), server)
		if err != nil {
			c.logger.Warn("LIST: backend unreachable", "server", server, "err", err)
			continue
		}
		tag := b.tag()
		fmt.Fprintf(b.w, "%s %s\r\n", tag, line)
		if err := c.relayUntagged(b, tag); err != nil {
			c.dropBackend(b)
			if errors.Is(err, errDesync) {
				return err
			}
		}
	}
	c.reply(cmd.Tag, "OK", "Completed")
	return nil
}

// relayUntagged relays b's untagged responses to the client until the
// proxy's own command tagged tag completes, which it keeps to itself.
func (c *session) relayUntagged(b *backend, tag string) error {
	_, err := c.relayOwn(b, tag)
	return err
}

// relayOwn is relayUntagged returning the completion.
func (c *session) relayOwn(b *backend, tag string) (imapwire.Response, error) {
	if err := b.w.Flush(); err != nil {
		return imapwire.Response{}, err
	}
	start := true
	for {
		b.conn.SetReadDeadline(time.Now().Add(backendReadTimeout))
		p, err := b.r.Next()
		if err != nil {
			if !start {
				return imapwire.Response{}, fmt.Errorf("%w: %v", errDesync, err)
			}
			return imapwire.Response{}, err
		}
		if start {
			if resp, _ := imapwire.ParseResponse(p.Line); resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
				return resp, b.r.Discard()
			}
		}
		if err := c.w.WritePart(p); err != nil {
			return imapwire.Response{}, err
		}
		start = p.Literal == nil && !p.Partial
	}
}
