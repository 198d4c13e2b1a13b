package imapproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapwire"
	"github.com/roost-mail/roost/frontend/locator"
)

// handleList answers LIST as Cyrus's frontend does (imapd.c list_data):
// from the cache, by the rules of mboxlist_findallmulti and list_cb, for
// every mailbox the user has the l right on. Subscriptions, which live on
// the INBOX's backend, are fetched from it; return options only backends
// can answer (SPECIAL-USE, STATUS, METADATA) send the LIST on to each
// backend holding a matching mailbox, once, and relay the replies.
func (c *session) handleList(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	if p.Literal != nil {
		return c.forward(c.inboxBackend(), cmd, p)
	}
	args, err := parseListArgs(rest)
	if err != nil {
		c.reply(cmd.Tag, "BAD", "Invalid syntax in List command")
		return nil
	}
	if cmd.Name == "XLIST" {
		// Apple's XLIST is LIST with children and special-use, which
		// only backends know: Cyrus sends it on to them.
		if args.extended {
			c.reply(cmd.Tag, "BAD", "Invalid syntax in Xlist command")
			return nil
		}
		args.ret |= retChildren | retSpecialUse
	}
	sep := c.view.HierSep()
	if !args.extended && args.patterns[0] == "" {
		c.untagged(`%s (\Noselect) "%c" ""`, cmd.Name, sep)
		c.reply(cmd.Tag, "OK", "Completed")
		return nil
	}
	l := &lister{c: c, args: args, sep: sep, line: cmd.Name + string(rest), done: map[string]bool{}}
	var canonical []string
	for _, p := range args.patterns {
		canonical = append(canonical, canonicalPattern(args.ref, p, sep))
		l.globs = append(l.globs, newGlob(canonical[len(canonical)-1], sep))
	}
	l.singlePercent = singlePercent(canonical)
	if len(l.globs) > 0 {
		if args.ret&retSubscribed != 0 && c.inboxServer != "" {
			if err := l.subscriptions(); err != nil {
				return err
			}
		}
		l.find()
	}
	c.reply(cmd.Tag, "OK", "Completed")
	return nil
}

// Mailbox attributes, in the order Cyrus prints them.
const (
	attrNoInferiors = 1 << iota
	attrNoSelect
	attrMarked
	attrUnmarked
	attrNonExistent
	attrSubscribed
	attrRemote
	attrHasChildren
	attrHasNoChildren
	attrChildInfoSubscribed // CHILDINFO ("SUBSCRIBED"), printed apart
)

var attrNames = []string{`\Noinferiors`, `\Noselect`, `\Marked`, `\Unmarked`, `\NonExistent`,
	`\Subscribed`, `\Remote`, `\HasChildren`, `\HasNoChildren`}

// lister is one LIST command's walk over the cache: list_cb's state (the
// name seen last, kept back until the next one tells whether it has
// children) and the backends already asked.
type lister struct {
	c     *session
	args  listArgs
	sep   byte
	globs []*glob
	// singlePercent: see the function of that name.
	singlePercent bool
	line          string // the client's LIST, to send on to backends

	subs []string        // internal names subscribed, or prefixes name+"." with subscribed children
	done map[string]bool // backends that answered for their own mailboxes

	last      string // external name kept back, "" for none
	lastEntry *locator.Entry
	lastAttrs int
}

// find walks the passes of mboxlist_do_find in order: the user's INBOX,
// the user's other mailboxes, other users' and the shared ones, each in
// mailboxes.db order, flushing what is kept back between passes.
func (l *lister) find() {
	c := l.c
	inbox := c.view.Inbox()
	if c.who.Admin {
		inbox = ""
	}
	// Only what the user may see and the patterns match is kept, with
	// its sort key: a LIST costs one walk of the cache, not a copy of it.
	type match struct {
		key, ext string
		n        int
		e        locator.Entry
	}
	passes := make([][]match, 4)
	owner := acl.Parse(acl.DefaultOwnerRights)
	c.s.cfg.Locator.List("", func(e locator.Entry) bool {
		if e.Reserved {
			return true
		}
		ext, ok := c.view.Listed(e.Name, false)
		if !ok {
			return true
		}
		n := l.matchLen(ext)
		if n < 0 {
			return true
		}
		o, isUser := c.s.ns.Owner(e.Name)
		if rights, _ := acl.Of(c.who, e.ACL, isUser && o == c.user, owner); !rights.Has("l") {
			return true
		}
		pass := 3
		switch {
		case inbox != "" && e.Name == inbox:
			pass = 0
		case inbox != "" && strings.HasPrefix(e.Name, inbox+"."):
			pass = 1
		case c.s.ns.IsUserMailbox(e.Name):
			pass = 2
		}
		passes[pass] = append(passes[pass], match{key: dbOrder.Replace(e.Name), ext: ext, n: n, e: e})
		return true
	})
	for i, pass := range passes {
		slices.SortFunc(pass, func(a, b match) int { return strings.Compare(a.key, b.key) })
		for j := range pass {
			l.found(pass[j].ext, pass[j].n, &pass[j].e)
		}
		if i > 0 || c.view.Alt() {
			// Only the alternate namespace ends a pass at the INBOX,
			// whose children there are not its children.
			l.flush()
		}
	}
}

// dbOrder makes the key Cyrus's mailboxes.db sorts a name by: the
// hierarchy separator and the domain's sort before every other octet.
var dbOrder = strings.NewReplacer(".", "\x1f", "!", "\x1d")

// matchLen is the longest match of any of the patterns on ext, or -1.
func (l *lister) matchLen(ext string) int {
	best := -1
	for _, g := range l.globs {
		best = max(best, g.match(ext))
	}
	return best
}

// found is mboxlist's find_cb: the matched part of ext, with, for a
// single trailing %, each shorter parent that matches whole first.
func (l *lister) found(ext string, n int, e *locator.Entry) {
	name := ext[:n]
	if l.singlePercent {
		for i := 0; i < len(name); i++ {
			if name[i] == l.sep && l.globs[0].full(name[:i]) {
				l.callback(name[:i], false, e)
			}
		}
	}
	l.callback(name, n == len(ext), e)
}

// singlePercent reports whether the only pattern ends in % (or *%)
// after its last literal octet, the case where find_cb offers the
// shorter names too.
func singlePercent(patterns []string) bool {
	if len(patterns) != 1 {
		return false
	}
	p := patterns[0]
	i := strings.IndexAny(p, "*%?")
	return i >= 0 && (p[i:] == "%" || p[i:] == "*%")
}

// callback is imapd's list_cb.
func (l *lister) callback(ext string, exact bool, e *locator.Entry) {
	isChild := l.last != "" && len(ext) > len(l.last) && ext[len(l.last)] == l.sep && strings.HasPrefix(ext, l.last)
	if isChild || l.last != "" && !exact && l.last == ext {
		l.lastAttrs |= attrHasChildren
	} else if l.lastAttrs&attrHasChildren == 0 {
		l.lastAttrs |= attrHasNoChildren
	}
	if !l.output(ext, e) {
		return
	}
	if !exact {
		l.lastAttrs |= attrHasChildren | attrNonExistent
	}
}

// flush is list_cb's end of a pass.
func (l *lister) flush() {
	if l.lastAttrs&attrHasChildren == 0 {
		l.lastAttrs |= attrHasNoChildren
	}
	l.output("", nil)
}

// output is imapd's perform_output: it writes the name kept back and
// keeps ext in its place. It reports false when ext is passed over: it
// was the name kept back again, a parent of it, or on a backend that
// answers for itself.
func (l *lister) output(ext string, e *locator.Entry) bool {
	if e != nil {
		server := e.Server()
		if l.done[server] {
			return false
		}
		if l.args.ret&(retSpecialUse|retStatus|retMetadata) != 0 {
			l.done[server] = true
			l.remote(server)
			return false
		}
	}
	if l.last != "" {
		if ext != "" {
			if ext == l.last || len(ext) < len(l.last) && l.last[len(ext)] == l.sep && strings.HasPrefix(l.last, ext) {
				return false
			}
		}
		l.addSubs()
		if l.args.sel&selSubscribed == 0 || l.lastAttrs&(attrSubscribed|attrChildInfoSubscribed) != 0 {
			l.respond(l.last, l.lastEntry, l.lastAttrs)
		}
		l.last, l.lastEntry = "", nil
	}
	if ext != "" {
		l.last, l.lastEntry = ext, e
	}
	l.lastAttrs = 0
	return true
}

// addSubs marks the name kept back subscribed, or as having subscribed
// children.
func (l *lister) addSubs() {
	if l.subs == nil || l.lastEntry == nil {
		return
	}
	name := l.lastEntry.Name
	for _, s := range l.subs {
		rest, ok := strings.CutPrefix(s, name)
		switch {
		case !ok:
		case rest == "" && l.lastAttrs&attrNonExistent != 0:
			l.lastAttrs |= attrChildInfoSubscribed
		case rest == "":
			l.lastAttrs |= attrSubscribed
		case rest[0] == '.':
			l.lastAttrs |= attrChildInfoSubscribed
		}
	}
}

// respond is imapd's list_response: one LIST line, and MYRIGHTS after
// it when asked.
func (l *lister) respond(ext string, e *locator.Entry, attrs int) {
	a := l.args
	if attrs&attrNonExistent != 0 && !a.extended {
		attrs = attrs&^attrNonExistent | attrNoSelect
	}
	if a.ret&retChildren != 0 && attrs&(attrHasChildren|attrHasNoChildren) == 0 {
		if !(l.c.view.Alt() && ext == "INBOX") && e != nil && l.hasChild(e.Name) {
			attrs |= attrHasChildren
		} else {
			attrs |= attrHasNoChildren
		}
	}
	if attrs&(attrNonExistent|attrNoSelect) != 0 && !a.extended && attrs&attrHasChildren == 0 {
		return
	}
	if a.sel&selRecursiveMatch == 0 {
		attrs &^= attrChildInfoSubscribed
	}
	if attrs&attrNoInferiors != 0 {
		attrs &^= attrHasChildren
	}
	if attrs&attrHasChildren != 0 {
		attrs &^= attrHasNoChildren
	}
	if a.extended {
		if attrs&attrNoInferiors != 0 {
			attrs &^= attrHasNoChildren
		}
		if attrs&attrNonExistent != 0 {
			attrs &^= attrNoSelect
		}
	}
	var b strings.Builder
	b.WriteString("* LIST (")
	sep := ""
	for i, name := range attrNames {
		if attrs&(1<<i) != 0 {
			b.WriteString(sep + name)
			sep = " "
		}
	}
	b.WriteString(`) "` + string(l.sep) + `" `)
	b.WriteString(cyrusAString(ext))
	if attrs&attrChildInfoSubscribed != 0 {
		b.WriteString(` (CHILDINFO ("SUBSCRIBED"))`)
	}
	b.WriteString("\r\n")
	if a.ret&retMyRights != 0 && attrs&(attrNoSelect|attrNonExistent) == 0 && e != nil {
		o, isUser := l.c.s.ns.Owner(e.Name)
		rights, _ := acl.Of(l.c.who, e.ACL, isUser && o == l.c.user, acl.Parse(acl.DefaultOwnerRights))
		b.WriteString("* MYRIGHTS " + cyrusAString(ext) + " " + cyrusAString(cyrusRights(rights)) + "\r\n")
	}
	l.c.w.WriteString(b.String())
}

// hasChild reports whether the cache holds a mailbox under name.
func (l *lister) hasChild(name string) bool {
	found := false
	l.c.s.cfg.Locator.List(name+".", func(e locator.Entry) bool {
		found = !e.Reserved
		return !found
	})
	return found
}

// cyrusRights spells rights in Cyrus's order (lib/acl.c).
func cyrusRights(r acl.Rights) string {
	var b strings.Builder
	for _, ch := range "lrswipkxtecdan0123456789" {
		if r.Has(string(ch)) {
			b.WriteRune(ch)
		}
	}
	return b.String()
}

// cyrusAString writes s as Cyrus's prot_printastring does: an atom when
// it can be one (and is not NIL), else a quoted string, else a literal.
func cyrusAString(s string) string {
	if s == "" {
		return `""`
	}
	atom, quotable := len(s) < 1024 && s != "NIL", len(s) < 1024
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c&0x80 != 0 || c == '\r' || c == '\n':
			atom, quotable = false, false
		case c == '"' || c == '%' || c == '\\':
			atom, quotable = false, false
		case c <= 0x1f || c == 0x7f || c == ' ' || c == '{' || c == '(' || c == ')' || c == '*':
			atom = false
		}
	}
	switch {
	case atom:
		return s
	case quotable:
		return `"` + s + `"`
	}
	return fmt.Sprintf("{%d}\r\n%s", len(s), s)
}

// remote sends the client's LIST to a backend and relays its replies:
// what Cyrus's frontend does when the return options ask for what only
// the backends know. A backend other than the INBOX's knows nothing of
// the user's subscriptions: as in imapd's list_data_remote, it is asked
// without the SUBSCRIBED and RECURSIVEMATCH selection, and its replies
// are marked \Subscribed, or dropped, by the subscriptions fetched from
// the INBOX's backend (imap_proxy.c's check_subs).
func (l *lister) remote(server string) {
	c := l.c
	b, err := c.backendFor(context.Background(), server)
	if err != nil {
		c.logger.Warn("LIST: backend unreachable", "server", server, "err", err)
		return
	}
	line := l.line
	bySubs := l.subs != nil && server != c.inboxServer
	if bySubs {
		line = l.argsFor(selSubscribed | selRecursiveMatch)
	}
	tag := b.tag()
	fmt.Fprintf(b.w, "%s %s\r\n", tag, line)
	if !bySubs {
		if err := c.relayUntagged(b, tag); err != nil {
			c.logger.Warn("LIST: backend failed", "server", server, "err", err)
			c.dropBackend(b)
		}
		return
	}
	if err := b.w.Flush(); err != nil {
		c.dropBackend(b)
		return
	}
	dropping := false // the LIST before was dropped: so are its STATUS and the like
	for start := true; ; {
		b.conn.SetReadDeadline(time.Now().Add(backendReadTimeout))
		p, err := b.r.Next()
		if err != nil {
			c.logger.Warn("LIST: backend failed", "server", server, "err", err)
			c.dropBackend(b)
			return
		}
		if !start || p.Literal != nil || p.Partial {
			start = p.Literal == nil && !p.Partial
			c.w.WritePart(p)
			continue
		}
		resp, _ := imapwire.ParseResponse(p.Line)
		if resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
			b.r.Discard()
			return
		}
		out, keep := l.markSubscribed(p.Line, &dropping)
		if keep {
			c.w.Write(out)
			c.w.WriteString("\r\n")
		}
	}
}

// markSubscribed applies the subscriptions to one reply of a backend
// that does not keep them.
func (l *lister) markSubscribed(line []byte, dropping *bool) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("* LIST "))
	if !ok {
		if *dropping && (bytes.HasPrefix(line, []byte("* STATUS ")) || bytes.HasPrefix(line, []byte("* MYRIGHTS ")) ||
			bytes.HasPrefix(line, []byte("* METADATA "))) {
			return nil, false
		}
		return line, true
	}
	*dropping = false
	attrs, after, internal, ok := l.parseListReply(rest)
	if !ok {
		return line, true
	}
	if _, exists := l.c.lookup(internal); !exists {
		return line, true
	}
	kept, subscribed := existing(attrs)
	childSubscribed := false
	for _, s := range l.subs {
		switch {
		case s == internal && !subscribed:
			kept, subscribed = append(kept, `\Subscribed`), true
		case s == internal+".":
			childSubscribed = true
		}
	}
	if l.args.sel&selSubscribed != 0 && !subscribed && !(childSubscribed && l.args.sel&selRecursiveMatch != 0) {
		*dropping = true
		return nil, false
	}
	return []byte("* LIST (" + strings.Join(kept, " ") + ")" + string(after)), true
}

// existing drops a backend's \Noselect and \NonExistent from the
// attributes of a mailbox the cache holds (the backend knows only its
// own mailboxes), and says whether \Subscribed is among them.
func existing(attrs []string) (kept []string, subscribed bool) {
	kept = []string{}
	for _, a := range attrs {
		switch strings.ToLower(a) {
		case `\noselect`, `\nonexistent`:
			continue
		case `\subscribed`:
			subscribed = true
		}
		kept = append(kept, a)
	}
	return kept, subscribed
}

// parseListReply splits what follows "* LIST " into its attributes, the
// rest of the line after them, and the mailbox's internal name.
func (l *lister) parseListReply(rest []byte) (attrs []string, after []byte, internal string, ok bool) {
	inside, after, ok := parenthesised(append([]byte(" "), rest...))
	if !ok {
		return nil, nil, "", false
	}
	_, nameRest, err := imapwire.ParseAString(after) // the delimiter, quoted
	if err != nil {
		return nil, nil, "", false
	}
	name, _, err := imapwire.ParseAString(nameRest)
	if err != nil || name.Kind == imapwire.ArgLiteral {
		return nil, nil, "", false
	}
	internal, err = l.c.view.ToInternal(string(name.Value))
	if err != nil {
		return nil, nil, "", false
	}
	return strings.Fields(inside), after, internal, true
}

// argsFor writes the LIST again without the selection options in drop,
// with the patterns made canonical and an empty reference, as
// list_data_remote does.
func (l *lister) argsFor(drop int) string {
	a := l.args
	var b strings.Builder
	b.WriteString("LIST")
	var sel []string
	for _, w := range a.selWords {
		switch u := strings.ToUpper(w); {
		case u == "SUBSCRIBED" && drop&selSubscribed != 0, u == "RECURSIVEMATCH" && drop&selRecursiveMatch != 0:
		default:
			sel = append(sel, w)
		}
	}
	if len(sel) > 0 {
		b.WriteString(" (" + strings.Join(sel, " ") + ")")
	}
	b.WriteString(` "" (`)
	for i, p := range a.patterns {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(cyrusAStringQuoted(canonicalPattern(a.ref, p, l.sep)))
	}
	b.WriteString(")")
	if a.retText != "" {
		b.WriteString(" RETURN (" + a.retText + ")")
	}
	return b.String()
}

// subscriptions asks the INBOX's backend, which keeps them, for the
// user's subscriptions (imapd's list_data_remotesubscriptions). With
// SUBSCRIBED the only selection, the client's LIST goes there as sent and
// its replies for mailboxes on that backend are relayed; the rest, and
// every reply otherwise, only feed the list of subscriptions the walk of
// the cache then marks and filters by.
func (l *lister) subscriptions() error {
	c := l.c
	b := c.inboxBackend()
	if b == nil {
		return nil
	}
	relay := l.args.sel&selSubscribed != 0 && l.args.sel&(selSpecialUse|selMetadata) == 0
	line := l.line
	if !relay {
		line = "LIST (SUBSCRIBED) " + cyrusAStringQuoted(l.args.ref) + " ("
		for i, p := range l.args.patterns {
			if i > 0 {
				line += " "
			}
			line += cyrusAStringQuoted(p)
		}
		line += ")"
	}
	l.subs = []string{}
	tag := b.tag()
	fmt.Fprintf(b.w, "%s %s\r\n", tag, line)
	if err := b.w.Flush(); err != nil {
		c.dropBackend(b)
		return nil
	}
	for start := true; ; {
		b.conn.SetReadDeadline(time.Now().Add(backendReadTimeout))
		p, err := b.r.Next()
		if err != nil {
			c.dropBackend(b)
			return nil
		}
		if !start || p.Literal != nil || p.Partial {
			// A reply with a literal in it (a name sent as one) is
			// relayed untouched, or passed over.
			start = p.Literal == nil && !p.Partial
			if relay {
				if err := c.w.WritePart(p); err != nil {
					return err
				}
			} else if p.Literal != nil {
				io.Copy(io.Discard, p.Literal.Body)
			}
			continue
		}
		resp, _ := imapwire.ParseResponse(p.Line)
		if resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
			b.r.Discard()
			break
		}
		if out, keep := l.subscribed(p.Line, b.server, relay); keep {
			c.w.Write(out)
			c.w.WriteString("\r\n")
		}
	}
	if relay {
		l.done[b.server] = true
	}
	return nil
}

// subscribed takes one reply of the INBOX's backend to LIST (SUBSCRIBED)
// as imap_proxy.c's pipe_lsub does: a mailbox the cache holds loses the
// backend's \NonExistent (the backend knows only its own mailboxes) and,
// unless it is on that backend and the reply is being relayed, joins the
// subscriptions instead of reaching the client.
func (l *lister) subscribed(line []byte, server string, relay bool) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("* LIST "))
	if !ok {
		return line, true // EXISTS, EXPUNGE: the selected mailbox may be on this backend
	}
	attrList, after, internal, ok := l.parseListReply(rest)
	if !ok {
		return line, relay
	}
	e, exists := l.c.lookup(internal)
	if !exists {
		return line, relay
	}
	kept, subscribed := existing(attrList)
	if !relay || e.Server() != server {
		if subscribed {
			l.subs = append(l.subs, internal)
		} else {
			l.subs = append(l.subs, internal+".")
		}
		return nil, false
	}
	return []byte("* LIST (" + strings.Join(kept, " ") + ")" + string(after)), true
}

// cyrusAStringQuoted is cyrusAString for a pattern, which may hold
// wildcards: quoted unless it needs a literal.
func cyrusAStringQuoted(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c&0x80 != 0 || c == '\r' || c == '\n' || c == '"' || c == '\\' {
			return fmt.Sprintf("{%d+}\r\n%s", len(s), s)
		}
	}
	return `"` + s + `"`
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
