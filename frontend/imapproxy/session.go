package imapproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapwire"
	"github.com/roost-mail/roost/frontend/namespace"
)

// maxName bounds a mailbox name or a login argument sent as a literal.
const maxName = 4096

// session is one client connection. Its goroutine owns everything in it.
type session struct {
	s      *Server
	conn   net.Conn
	br     *bufio.Reader // under r: IDLE peeks at it
	r      *imapwire.Reader
	w      *imapwire.Writer
	tls    bool
	logger *slog.Logger

	user, password string          // once authenticated
	view           *namespace.View // once authenticated
	who            acl.User        // once authenticated
	backends       map[string]*backend
	inbox          *backend // the INBOX's backend, which checked the password; nil once lost
	inboxServer    string   // its server, to connect to again
	selected       *backend // may be nil
	selectedName   string   // the selected mailbox's internal name
	enabled        []string // ENABLE arguments, replayed on new backends
	idleEnded      bool     // a backend ended IDLE itself: a DONE may follow
}

func newSession(s *Server, conn net.Conn, tls bool) *session {
	c := &session{s: s, tls: tls, backends: map[string]*backend{},
		logger: s.logger.With("remote_addr", conn.RemoteAddr().String())}
	c.setConn(conn)
	return c
}

func (c *session) setConn(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 16<<10)
	c.r = imapwire.NewCommandReader(c.br, &imapwire.Options{MaxLiteral: c.s.cfg.MaxMessage})
	c.w = imapwire.NewWriter(bufio.NewWriterSize(timedWriter{conn}, 64<<10))
}

// clientWriteTimeout bounds how long a client may leave what the proxy
// sends it unread: one that stops reading in the middle of a large FETCH
// is dropped rather than holding its backend connections for ever.
const clientWriteTimeout = 5 * time.Minute

// timedWriter gives every write to the client a deadline.
type timedWriter struct{ conn net.Conn }

func (w timedWriter) Write(p []byte) (int, error) {
	w.conn.SetWriteDeadline(time.Now().Add(clientWriteTimeout))
	return w.conn.Write(p)
}

func (c *session) serve() {
	defer func() {
		if r := recover(); r != nil {
			c.logger.Error("session failed", "user", c.user, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	defer func() {
		for _, b := range c.backends {
			b.close()
			c.s.untrack(b.conn)
		}
	}()
	c.untagged("OK [CAPABILITY %s] Roost IMAP proxy ready", c.capabilities())
	for {
		c.w.Flush()
		c.conn.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		p, err := c.r.Next()
		if err != nil && !c.protocolError(p, err) {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.untagged("BYE %s", reason(err))
				c.w.Flush()
			}
			return
		}
		if err != nil {
			continue
		}
		if c.idleEnded {
			c.idleEnded = false
			if p.Literal == nil && strings.EqualFold(string(p.Line), "DONE") {
				continue
			}
		}
		cmd, rest, err := imapwire.ParseCommand(p.Line)
		if err != nil {
			c.reply(tagOf(p.Line), "BAD", "%v", err)
			c.r.Discard()
			continue
		}
		if err := c.dispatch(cmd, p, rest); err != nil {
			if !errors.Is(err, errLogout) {
				c.logger.Info("session ended", "user", c.user, "err", err)
				c.untagged("BYE %s", reason(err))
			}
			c.w.Flush()
			return
		}
	}
}

// protocolError answers a command the wire layer refused; it reports
// whether the session goes on.
func (c *session) protocolError(p imapwire.Part, err error) bool {
	tag := tagOf(p.Line)
	switch {
	case errors.Is(err, imapwire.ErrLiteralTooLarge):
		if p.Literal != nil && !p.Literal.Sync {
			// The client is sending it anyway: the Reader drops it.
			c.reply(tag, "BAD", "[TOOBIG] literal of %d octets is too large", p.Literal.Size)
			return true
		}
		c.reply(tag, "NO", "[TOOBIG] literal too large")
		c.r.Discard()
		return true
	case errors.Is(err, imapwire.ErrLineTooLong):
		c.reply(tag, "BAD", "command line too long")
		return true
	case errors.Is(err, imapwire.ErrNUL), errors.Is(err, imapwire.ErrSyntax):
		c.reply(tag, "BAD", "%v", strings.TrimPrefix(err.Error(), "imapwire: "))
		return true
	}
	return false
}

// tagOf returns the tag a broken command line starts with, or "*".
func tagOf(line []byte) string {
	tag, _, ok := strings.Cut(string(line), " ")
	if !ok || tag == "" || strings.ContainsAny(tag, "{}()%*\"\\+") || len(tag) > 64 {
		return "*"
	}
	return tag
}

func reason(err error) string {
	if errors.Is(err, errBackendGone) {
		return "[UNAVAILABLE] backend connection lost"
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return "Idle for too long"
	}
	return "session ended"
}

func (c *session) untagged(format string, args ...any) {
	fmt.Fprintf(c.w, "* "+format+"\r\n", args...)
}

func (c *session) reply(tag, status, format string, args ...any) {
	fmt.Fprintf(c.w, "%s %s %s\r\n", tag, status, fmt.Sprintf(format, args...))
}

func (c *session) authenticated() bool { return c.view != nil }

// dispatch runs one command whose first part is p; rest is p.Line after
// the command name.
func (c *session) dispatch(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	switch cmd.Name {
	case "CAPABILITY":
		c.untagged("CAPABILITY %s", c.capabilities())
		c.reply(cmd.Tag, "OK", "Completed")
		return nil
	case "NOOP", "CHECK":
		if c.selected != nil {
			return c.forward(c.selected, cmd, p)
		}
		c.reply(cmd.Tag, "OK", "Completed")
		return nil
	case "LOGOUT":
		c.untagged("BYE Roost IMAP proxy signing off")
		c.reply(cmd.Tag, "OK", "Completed")
		return errLogout
	case "ID":
		c.r.Discard()
		c.untagged(`ID ("name" "Roost")`)
		c.reply(cmd.Tag, "OK", "Completed")
		return nil
	case "STARTTLS":
		return c.startTLS(cmd)
	case "LOGIN":
		return c.handleLogin(cmd, p, rest)
	case "AUTHENTICATE":
		return c.handleAuthenticate(cmd, rest)
	}
	if !c.authenticated() {
		c.r.Discard()
		c.reply(cmd.Tag, "BAD", "Please login first")
		return nil
	}
	switch cmd.Name {
	case "NAMESPACE":
		c.untagged("NAMESPACE %s", c.view.Namespaces(c.inboxExists()))
		c.reply(cmd.Tag, "OK", "Completed")
		return nil
	case "LIST", "XLIST":
		return c.handleList(cmd, p, rest)
	case "LSUB", "SUBSCRIBE", "UNSUBSCRIBE":
		return c.forward(c.inboxBackend(), cmd, p)
	case "ENABLE":
		return c.handleEnable(cmd, p, rest)
	case "SELECT", "EXAMINE":
		return c.handleSelect(cmd, p, rest)
	case "CREATE":
		return c.handleCreate(cmd, p, rest)
	case "DELETE":
		return c.handleDelete(cmd, p, rest)
	case "RENAME":
		return c.handleRename(cmd, p, rest)
	case "STATUS", "APPEND", "GETACL", "SETACL", "DELETEACL", "MYRIGHTS", "LISTRIGHTS",
		"GETQUOTAROOT", "GETQUOTA", "SETQUOTA", "SETMETADATA":
		return c.handleMailbox(cmd, p, rest)
	case "GETMETADATA":
		return c.handleGetMetadata(cmd, p, rest)
	case "UNSELECT", "CLOSE":
		b := c.selected
		if b == nil {
			c.r.Discard()
			c.reply(cmd.Tag, "BAD", "No mailbox selected")
			return nil
		}
		c.selected = nil
		return c.forward(b, cmd, p)
	case "IDLE":
		if c.selected == nil {
			return c.idle(c.inboxBackend(), cmd, p)
		}
		return c.idle(c.selected, cmd, p)
	}
	// FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, UID ... and anything the
	// proxy does not know go where the mailbox is selected, else to the
	// INBOX's backend.
	if cmd.Name == "UID" && (cmd.Sub == "COPY" || cmd.Sub == "MOVE") || cmd.Name == "COPY" || cmd.Name == "MOVE" {
		return c.handleCopy(cmd, p, rest)
	}
	if c.selected != nil {
		return c.forward(c.selected, cmd, p)
	}
	return c.forward(c.inboxBackend(), cmd, p)
}

func (c *session) startTLS(cmd imapwire.Command) error {
	c.r.Discard()
	if c.s.cfg.TLS == nil || c.tls {
		c.reply(cmd.Tag, "BAD", "STARTTLS not available")
		return nil
	}
	c.reply(cmd.Tag, "OK", "Begin TLS negotiation now")
	c.w.Flush()
	tc := tls.Server(c.conn, c.s.cfg.TLS)
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.conn.SetDeadline(time.Time{})
	c.tls = true
	c.setConn(tc)
	return nil
}

// backendFor returns the session's connection to server, making one.
func (c *session) backendFor(ctx context.Context, server string) (*backend, error) {
	if b, ok := c.backends[server]; ok {
		return b, nil
	}
	b, err := c.dial(ctx, server)
	if err != nil {
		c.s.m.backendFailed(server)
		return nil, err
	}
	authcid, password, authzid := c.user, c.password, ""
	if c.s.cfg.ProxyUser != "" {
		authcid, password, authzid = c.s.cfg.ProxyUser, c.s.cfg.ProxyPassword, c.user
	}
	if err := b.login(authzid, authcid, password); err != nil {
		b.conn.Close()
		c.s.untrack(b.conn)
		return nil, err
	}
	if err := c.replayEnable(b); err != nil {
		b.conn.Close()
		c.s.untrack(b.conn)
		return nil, err
	}
	c.backends[server] = b
	return b, nil
}

// dial connects to a backend, registered with the server so that Close
// ends it; the session closes it with closeBackend.
func (c *session) dial(ctx context.Context, server string) (*backend, error) {
	b, err := dialBackend(ctx, server, c.s.resolve(server), c.s.cfg.BackendTLS)
	if err != nil {
		return nil, err
	}
	if !c.s.track(b.conn) {
		return nil, net.ErrClosed
	}
	return b, nil
}

// handleEnable forwards ENABLE to the INBOX's backend, whose answer the
// client gets, then sends it to every other backend already connected;
// backends connected later get it as they connect.
func (c *session) handleEnable(cmd imapwire.Command, p imapwire.Part, rest []byte) error {
	args := strings.TrimSpace(string(rest))
	inbox := c.inboxBackend()
	resp, err := c.forwardResp(inbox, cmd, p, nil)
	if err != nil || resp.Status != "OK" {
		return err
	}
	c.enabled = append(c.enabled, args)
	for _, b := range c.backends {
		if b == inbox {
			continue
		}
		if _, err := b.simple("ENABLE " + args); err != nil && errors.Is(err, errBackendGone) {
			c.dropBackend(b)
		}
	}
	return nil
}

// replayEnable sends the session's ENABLEs to a new backend connection,
// so that, say, QRESYNC holds on every backend the client reaches.
func (c *session) replayEnable(b *backend) error {
	for _, args := range c.enabled {
		if _, err := b.simple("ENABLE " + args); err != nil {
			var refusal *backendRefusal
			if !errors.As(err, &refusal) {
				return err
			}
		}
	}
	return nil
}

// inboxBackend returns the connection to the INBOX's backend, connecting
// again (as the proxy) if it was lost; nil if that fails.
func (c *session) inboxBackend() *backend {
	if c.inbox == nil && c.inboxServer != "" {
		if b, err := c.backendFor(context.Background(), c.inboxServer); err == nil {
			c.inbox = b
		}
	}
	return c.inbox
}

// dropBackend forgets a connection that broke.
func (c *session) dropBackend(b *backend) {
	b.conn.Close()
	c.s.untrack(b.conn)
	delete(c.backends, b.server)
	if c.selected == b {
		c.selected = nil
	}
	if c.inbox == b {
		c.inbox = nil
	}
}
