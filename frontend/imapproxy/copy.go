package imapproxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapwire"
)

// handleCopy runs COPY and MOVE (and their UID forms): on the selected
// mailbox's backend when the destination lives there too, else by
// fetching each message from the source and appending it to the
// destination, streamed, with its flags and internal date (Cyrus's
// proxy_copy, one message in memory at most: none, here).
func (c *session) handleCopy(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	if c.selected == nil {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "No mailbox selected")
		return nil
	}
	if p.Literal != nil {
		return c.forward(c.selected, cmd, p) // a destination sent as a literal: the backend's to judge
	}
	set, dest, ok := copyArgs(rest)
	if !ok {
		c.reply(cmd.Tag, "BAD", "%s needs a message set and a mailbox", cmd.Name)
		return nil
	}
	internal, err := c.view.ToInternal(dest)
	if err != nil {
		c.reply(cmd.Tag, "NO", "Invalid mailbox name")
		return nil
	}
	e, found := c.lookup(internal)
	if !found {
		c.reply(cmd.Tag, "NO", "[TRYCREATE] Mailbox does not exist")
		return nil
	}
	if e.Server() == c.selected.server {
		return c.forward(c.selected, cmd, p)
	}
	move := cmd.Name == "MOVE" || cmd.Sub == "MOVE"
	if move && !c.rights(c.selectedName).Has("e") {
		c.reply(cmd.Tag, "NO", "[NOPERM] Permission denied: no right to expunge the source mailbox")
		return nil
	}
	dst, err := c.backendFor(context.Background(), e.Server())
	if err != nil {
		c.reply(cmd.Tag, "NO", "[UNAVAILABLE] the backend holding the destination is not reachable")
		return nil
	}
	c.s.m.crossCopy(map[bool]string{true: "MOVE", false: "COPY"}[move])
	return c.crossCopy(cmd, dst, set, dest, cmd.Name == "UID", move)
}

// rights returns the session user's rights on a mailbox from the cache.
func (c *session) rights(internal string) acl.Rights {
	e, ok := c.lookup(internal)
	if !ok {
		return 0
	}
	owner, isUser := c.s.ns.Owner(internal)
	r, _ := acl.Of(c.who, e.ACL, isUser && owner == c.user, acl.Parse(acl.DefaultOwnerRights))
	return r
}

// copyArgs splits " set mailbox" into its set and the mailbox's value.
func copyArgs(rest []byte) (set, mailbox string, ok bool) {
	s := strings.TrimLeft(string(rest), " ")
	set, after, found := strings.Cut(s, " ")
	if !found || set == "" {
		return "", "", false
	}
	arg, tail, err := imapwire.ParseAString([]byte(" " + after))
	if err != nil || arg.Kind == imapwire.ArgLiteral || len(bytes.TrimSpace(tail)) > 0 {
		return "", "", false
	}
	return set, string(arg.Value), true
}

// message is one message to copy: what the source said of it.
type message struct {
	uid, flags, date string
}

var (
	reUID    = regexp.MustCompile(`\bUID (\d+)`)
	reFlags  = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	reDate   = regexp.MustCompile(`\bINTERNALDATE "([^"]*)"`)
	reAppUID = regexp.MustCompile(`^(\d+) (\d+)$`)
)

// crossCopy copies the set's messages from the selected backend to dst,
// then, for MOVE, expunges them from the source.
func (c *session) crossCopy(cmd imapwire.Command, dst *backend, set, dest string, uid, move bool) error {
	src := c.selected
	fetch := "FETCH"
	if uid {
		fetch = "UID FETCH"
	}
	var msgs []message
	lines, err := src.simple(fmt.Sprintf("%s %s (UID FLAGS INTERNALDATE)", fetch, set))
	if err != nil {
		return c.copyFailed(cmd, src, err)
	}
	for _, l := range lines {
		u, f, d := reUID.FindStringSubmatch(l), reFlags.FindStringSubmatch(l), reDate.FindStringSubmatch(l)
		if !strings.Contains(l, " FETCH ") || u == nil || d == nil {
			c.unsolicited(l)
			continue
		}
		m := message{uid: u[1], date: d[1]}
		if f != nil {
			m.flags = dropRecent(f[1])
		}
		msgs = append(msgs, m)
	}
	var srcUIDs, dstUIDs []string
	validity := ""
	for _, m := range msgs {
		appendUID, culprit, err := c.copyOne(src, dst, m, dest)
		if err != nil {
			return c.copyFailed(cmd, culprit, err)
		}
		srcUIDs = append(srcUIDs, m.uid)
		if a := reAppUID.FindStringSubmatch(appendUID); a != nil && (validity == "" || validity == a[1]) {
			validity = a[1]
			dstUIDs = append(dstUIDs, a[2])
		} else {
			validity = "-"
		}
	}
	code := ""
	if len(msgs) > 0 && validity != "" && validity != "-" {
		code = fmt.Sprintf("[COPYUID %s %s %s] ", validity, strings.Join(srcUIDs, ","), strings.Join(dstUIDs, ","))
	}
	if !move || len(msgs) == 0 {
		c.reply(cmd.Tag, "OK", "%sCompleted", code)
		return nil
	}
	if code != "" {
		c.untagged("OK %s", strings.TrimSpace(code))
	}
	uids := strings.Join(srcUIDs, ",")
	lines, err = src.simple(fmt.Sprintf("UID STORE %s +FLAGS.SILENT (\\Deleted)", uids))
	for _, l := range lines {
		c.unsolicited(l)
	}
	if err != nil {
		return c.copyFailed(cmd, src, err)
	}
	// The source's EXPUNGE responses go to the client: its sequence
	// numbers change.
	tag := src.tag()
	fmt.Fprintf(src.w, "%s UID EXPUNGE %s\r\n", tag, uids)
	resp, err := c.relayOwn(src, tag)
	if errors.Is(err, errDesync) {
		c.dropBackend(src)
		return err
	}
	if err != nil {
		_, err := c.lost(src, cmd, err)
		return err
	}
	if resp.Status != "OK" {
		c.reply(cmd.Tag, "NO", "copied, but the source would not expunge: %s", resp.Text)
		return nil
	}
	c.reply(cmd.Tag, "OK", "Completed")
	return nil
}

func dropRecent(flags string) string {
	var out []string
	for _, f := range strings.Fields(flags) {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// copyOne streams one message from src's FETCH into dst's APPEND and
// returns APPENDUID's arguments, if dst gave them; on failure, it says
// which of the two failed. What else the source says meanwhile (a new
// message, an expunge by another session) is relayed to the client.
func (c *session) copyOne(src, dst *backend, m message, dest string) (string, *backend, error) {
	tag := src.tag()
	fmt.Fprintf(src.w, "%s UID FETCH %s (BODY.PEEK[])\r\n", tag, m.uid)
	if err := src.w.Flush(); err != nil {
		return "", src, fmt.Errorf("%w: %v", errBackendGone, err)
	}
	appTag := dst.tag()
	appended := false
	for {
		src.conn.SetReadDeadline(time.Now().Add(backendReadTimeout))
		p, err := src.r.Next()
		if err != nil {
			return "", src, fmt.Errorf("%w: %v", errBackendGone, err)
		}
		resp, _ := imapwire.ParseResponse(p.Line)
		if resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
			src.r.Discard()
			if resp.Status != "OK" {
				if appended {
					// The destination has the whole APPEND: read its
					// answer, so that it does not reach the client later.
					if _, _, err := dst.collect(appTag, nil); err != nil {
						return "", dst, err
					}
				}
				return "", src, &backendRefusal{resp}
			}
			break
		}
		if p.Literal == nil || appended || !bytes.Contains(p.Line, []byte("BODY[]")) {
			if p.Literal == nil && !p.Partial {
				c.unsolicited(string(p.Line))
			}
			src.r.Discard()
			continue
		}
		// The message body: stream it into the destination's APPEND.
		var head bytes.Buffer
		w := imapwire.NewWriter(bufio.NewWriter(&head))
		w.WriteString(appTag + " APPEND ")
		w.WriteArg(dest)
		fmt.Fprintf(w, " (%s) \"%s\" ", m.flags, m.date)
		w.Flush()
		dst.w.Write(head.Bytes())
		dst.w.WriteLiteralHeader(imapwire.Literal{Size: p.Literal.Size, Binary: p.Literal.Binary})
		if _, err := io.Copy(dst.w, p.Literal.Body); err != nil {
			// Either side broke; the destination is left mid-APPEND.
			return "", dst, fmt.Errorf("%w: %v", errBackendGone, err)
		}
		dst.w.WriteString("\r\n")
		appended = true
		src.r.Discard()
	}
	if !appended {
		return "", src, &backendRefusal{imapwire.Response{Status: "NO", Text: "the source sent no body for UID " + m.uid}}
	}
	resp, _, err := dst.collect(appTag, nil)
	if err != nil {
		return "", dst, err
	}
	if resp.Status != "OK" {
		return "", dst, &backendRefusal{resp}
	}
	if resp.Code == "APPENDUID" {
		return resp.CodeArgs, nil, nil
	}
	return "", nil, nil
}

// unsolicited relays an untagged line of the selected backend's that
// answered none of the proxy's own questions: EXISTS, EXPUNGE, VANISHED,
// a FETCH of flags another session changed.
func (c *session) unsolicited(line string) {
	if strings.HasPrefix(line, "* ") {
		c.w.WriteString(line + "\r\n")
	}
}

// copyFailed answers a COPY that failed part-way: what was appended
// stays, as with Cyrus, and the client is told.
func (c *session) copyFailed(cmd imapwire.Command, b *backend, err error) error {
	if refusal, ok := err.(*backendRefusal); ok {
		c.reply(cmd.Tag, "NO", "%s", refusal.resp.Text)
		return nil
	}
	_, err = c.lost(b, cmd, err)
	return err
}
