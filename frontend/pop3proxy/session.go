package pop3proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/internal/linger"
	"github.com/roost-mail/roost/frontend/internal/saslplain"
	"github.com/roost-mail/roost/frontend/servermap"
)

// maxLine bounds a command line before login: RFC 2449 allows 255
// octets, AUTH PLAIN with long credentials needs more.
const maxLine = 4096

var errLineTooLong = errors.New("pop3proxy: line too long")

// session is one client before it logs in.
type session struct {
	s      *Server
	conn   net.Conn
	br     *bufio.Reader
	tls    bool
	user   string // from USER, waiting for PASS
	logger *slog.Logger
}

func newSession(s *Server, conn net.Conn, implicitTLS bool) *session {
	return &session{s: s, conn: conn, br: bufio.NewReaderSize(conn, maxLine), tls: implicitTLS,
		logger: s.logger.With("remote_addr", conn.RemoteAddr().String())}
}

func (c *session) reply(format string, args ...any) error {
	c.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	_, err := fmt.Fprintf(c.conn, format+"\r\n", args...)
	return err
}

// readLine reads one command line; a longer one ends the session.
func (c *session) readLine() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	line, err := c.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (c *session) serve() {
	if err := c.reply("+OK Roost POP3 proxy ready"); err != nil {
		return
	}
	for {
		line, err := c.readLine()
		if errors.Is(err, errLineTooLong) {
			c.reply("-ERR Line too long")
			linger.Close(c.conn)
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.reply("-ERR Idle for too long, closing connection")
			return
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		var handedOver bool
		switch strings.ToUpper(verb) {
		case "CAPA":
			err = c.capa()
		case "USER":
			err = c.handleUser(arg)
		case "PASS":
			handedOver, err = c.handlePass(arg)
		case "AUTH":
			handedOver, err = c.handleAuth(arg)
		case "APOP":
			err = c.reply("-ERR [AUTH] APOP is not supported: use USER and PASS, or AUTH PLAIN")
		case "STLS":
			err = c.handleSTLS()
		case "QUIT":
			c.reply("+OK Roost POP3 proxy signing off")
			return
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			err = c.reply("-ERR Not logged in")
		default:
			err = c.reply("-ERR Unknown command")
		}
		if handedOver || err != nil {
			return
		}
	}
}

// capa lists what the session offers now, and what the backend will
// (Cyrus's pop3d) once the client is in.
func (c *session) capa() error {
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "SASL PLAIN"}
	if c.s.cfg.TLS != nil && !c.tls {
		caps = append(caps, "STLS")
	}
	caps = append(caps, "IMPLEMENTATION Roost")
	return c.reply("+OK List of capabilities follows\r\n%s\r\n.", strings.Join(caps, "\r\n"))
}

// allowed reports whether credentials may be sent now, answering when not.
func (c *session) allowed() (bool, error) {
	if c.s.cfg.RequireTLS && !c.tls {
		return false, c.reply("-ERR [AUTH] TLS is required first (STLS)")
	}
	return true, nil
}

func (c *session) handleUser(arg string) error {
	if ok, err := c.allowed(); !ok {
		return err
	}
	if arg == "" {
		return c.reply("-ERR USER needs a name")
	}
	c.user = arg
	return c.reply("+OK Name is a valid mailbox")
}

func (c *session) handlePass(arg string) (bool, error) {
	if ok, err := c.allowed(); !ok {
		return false, err
	}
	if c.user == "" {
		return false, c.reply("-ERR Give USER first")
	}
	user := c.user
	c.user = ""
	return c.login(user, arg)
}

// handleAuth serves AUTH (the list of mechanisms, RFC 1734) and AUTH
// PLAIN, with or without an initial response (RFC 5034).
func (c *session) handleAuth(arg string) (bool, error) {
	if ok, err := c.allowed(); !ok {
		return false, err
	}
	fields := strings.Fields(arg)
	if len(fields) == 0 {
		return false, c.reply("+OK\r\nPLAIN\r\n.")
	}
	if !strings.EqualFold(fields[0], "PLAIN") {
		return false, c.reply("-ERR [AUTH] Unsupported mechanism: PLAIN only")
	}
	var ir string
	if len(fields) > 1 {
		ir = fields[1]
	} else {
		if err := c.reply("+ "); err != nil {
			return false, err
		}
		line, err := c.readLine()
		if err != nil {
			return false, err
		}
		ir = strings.TrimSpace(line)
	}
	user, password, err := saslplain.Decode(ir)
	switch {
	case errors.Is(err, saslplain.ErrCancelled):
		return false, c.reply("-ERR Authentication cancelled")
	case errors.Is(err, saslplain.ErrBase64):
		return false, c.reply("-ERR Invalid base64")
	case err != nil:
		return c.failed("", err.Error(), "-ERR [AUTH] Authentication failed")
	}
	return c.login(user, password)
}

func (c *session) handleSTLS() error {
	if c.s.cfg.TLS == nil || c.tls {
		return c.reply("-ERR STLS is not available")
	}
	if err := c.reply("+OK Begin TLS negotiation"); err != nil {
		return err
	}
	// Whatever the client sent after STLS in plaintext is dropped, not
	// read as if it came over TLS.
	tc := tls.Server(c.conn, c.s.cfg.TLS)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		return err
	}
	tc.SetDeadline(time.Time{})
	c.conn, c.br, c.tls, c.user = tc, bufio.NewReaderSize(tc, maxLine), true, ""
	return nil
}

// failed answers a failed login, a second late: a guesser's every
// failure costs it that.
func (c *session) failed(user, why, reply string) (bool, error) {
	time.Sleep(time.Second)
	c.logger.Info("POP3 login failed", "user", user, "why", why)
	c.s.m.session("failed")
	return false, c.reply("%s", reply)
}

// login has the INBOX's backend check the credentials and, once it takes
// them, pipes the client to it until either side ends. It reports whether
// the client was handed over.
func (c *session) login(user, password string) (bool, error) {
	cfg := &c.s.cfg
	if !cfg.Locator.Ready() {
		c.s.m.session("unavailable")
		return false, c.reply("-ERR [SYS/TEMP] Mailbox locations are not known yet; try again later")
	}
	inbox := cfg.Namespace.User(user).Inbox()
	e, ok, err := cfg.Locator.Find(context.Background(), inbox)
	if err != nil {
		c.logger.Warn("could not ask the cluster about an INBOX the cache lacks", "mailbox", inbox, "err", err)
		c.s.m.session("unavailable")
		return false, c.reply("-ERR [SYS/TEMP] Mailbox locations cannot be confirmed; try again later")
	}
	if ok && e.Reserved {
		c.s.m.session("unavailable")
		return false, c.reply("-ERR [SYS/TEMP] The INBOX is being created or moved; try again later")
	}
	if !ok {
		return c.failed(user, "no INBOX in the cache", "-ERR [AUTH] Authentication failed: no INBOX for this user")
	}
	if strings.ContainsAny(user+password, "\r\n\x00") {
		return c.failed(user, "control characters in the credentials", "-ERR [AUTH] Authentication failed")
	}
	server := e.Server()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := dialBackend(ctx, cfg.BackendMap.Addr(server, servermap.POP3))
	if err == nil && !c.s.conns.Track(b.conn) {
		return true, nil
	}
	var okLine string
	if err == nil {
		okLine, err = b.login(user, password)
		b.conn.SetDeadline(time.Time{})
	}
	var refused *errRefused
	switch {
	case errors.As(err, &refused):
		b.close()
		c.s.conns.Untrack(b.conn)
		return c.failed(user, refused.Error(), refused.reply)
	case err != nil:
		if b != nil {
			b.conn.Close()
			c.s.conns.Untrack(b.conn)
		}
		c.logger.Warn("INBOX backend unreachable at POP3 login", "server", server, "user", user, "err", err)
		c.s.m.session("unavailable")
		return false, c.reply("-ERR [SYS/TEMP] The backend holding your INBOX is not reachable; try again later")
	}
	c.s.m.session("ok")
	c.logger.Info("POP3 login", "user", user, "server", server, "tls", c.tls)
	if err := c.reply("%s", okLine); err != nil {
		b.conn.Close()
		return true, err
	}
	c.pipe(b)
	return true, nil
}

// pipe copies bytes both ways until either side closes: commands the
// client pipelined behind its login first.
func (c *session) pipe(b *backend) {
	c.conn.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(b.conn, c.br)
		b.conn.Close()
	}()
	io.Copy(c.conn, b.br)
	c.conn.Close()
	b.conn.Close()
	<-done
	c.s.conns.Untrack(b.conn)
}
