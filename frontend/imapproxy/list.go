package imapproxy

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapwire"
	"github.com/roost-mail/roost/frontend/locator"
)

// handleList answers LIST from the cache: every mailbox whose external
// name matches and on which the user has the l right. LIST-EXTENDED
// selection and return options go to the INBOX's backend, which knows
// subscriptions and special-use.
func (c *session) handleList(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	if p.Literal != nil || bytes.HasPrefix(bytes.TrimLeft(rest, " "), []byte("(")) {
		return c.forward(c.inbox, cmd, p)
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
		return c.forward(c.inbox, cmd, p) // RETURN (...)
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
