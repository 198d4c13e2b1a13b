package lmtpproxy

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// One backend transaction. go-smtp's client opens the connection (the
// greeting, LHLO and AUTH), but it runs a transaction in lock step, a
// round trip per command, and cannot send IGNOREQUOTA. Every LMTP server
// pipelines (RFC 2033 section 4.2), so the proxy sends MAIL, every RCPT
// and DATA in one write, as Cyrus's own lmtpproxyd does, and the message
// in as few writes as its size allows.

// group is what one backend gets: its recipients, each address once.
type group struct {
	server      string
	addrs       []string
	ignoreQuota map[string]bool
}

// outcome is how a transaction ended.
type outcome struct {
	refused  map[string]error // addresses the backend did not take, with its reply
	accepted []string         // taken, with their status after the message
	status   map[string]error
	sentData bool // some of the message went: the transaction cannot be replayed
	unclean  bool // the backend is in a state the proxy does not know: drop it
}

// transact runs one transaction for g, the message read from msg. An
// error means the connection failed; out says how far it got.
func (bc *backendConn) transact(s *Server, env envelope, g *group, msg io.Reader) (out outcome, err error) {
	out.refused, out.status = map[string]error{}, map[string]error{}
	from, _ := wireAddr(env.from) // checked at MAIL
	fmt.Fprintf(bc.w, "MAIL FROM:<%s>%s\r\n", from, bc.mailParams(env.opts))
	for _, a := range g.addrs {
		param := ""
		if g.ignoreQuota[a] && bc.ignoreQuota {
			param = " IGNOREQUOTA"
		}
		to, _ := wireAddr(a) // checked at RCPT
		fmt.Fprintf(bc.w, "RCPT TO:<%s>%s\r\n", to, param)
	}
	bc.w.WriteString("DATA\r\n")
	if err := bc.w.Flush(); err != nil {
		return out, err
	}
	mail, err := bc.reply()
	if err != nil {
		return out, err
	}
	for _, a := range g.addrs {
		reply, err := bc.reply()
		switch {
		case err != nil:
			return out, err
		case mail != nil:
			// Every RCPT fails after a refused MAIL; MAIL's reply says why.
			out.refused[a] = s.backendReply(g.server, mail)
		case reply != nil:
			out.refused[a] = s.backendReply(g.server, reply)
		default:
			out.accepted = append(out.accepted, a)
		}
	}
	code, text, err := bc.tr.ReadResponse(0)
	if err != nil {
		return out, err
	}
	if code != 354 {
		// No recipient was taken, or the backend refuses the message.
		for _, a := range out.accepted {
			out.refused[a] = s.backendReply(g.server, parseReply(code, text))
		}
		out.accepted = nil
		return out, nil
	}
	if len(out.accepted) == 0 {
		// A backend that answered DATA with 354 all the same gets an
		// empty message, which it cannot deliver to anyone.
		bc.w.WriteString(".\r\n")
		out.unclean = true
		return out, bc.w.Flush()
	}
	out.sentData = true
	// The message goes as the client sent it: stuffed, with its final dot.
	if _, err := io.Copy(bc.w, msg); err != nil {
		return out, err
	}
	if err := bc.w.Flush(); err != nil {
		return out, err
	}
	for _, a := range out.accepted {
		reply, err := bc.reply()
		if err != nil {
			return out, err
		}
		out.status[a] = nil
		if reply != nil {
			out.status[a] = s.backendReply(g.server, reply)
		}
	}
	return out, nil
}

// mailParams are MAIL's parameters the backend knows: the client's SIZE,
// BODY and AUTH=.
func (bc *backendConn) mailParams(o smtp.MailOptions) string {
	var b strings.Builder
	if o.Size > 0 && bc.has("SIZE") {
		fmt.Fprintf(&b, " SIZE=%d", o.Size)
	}
	if o.Body != "" && bc.has("8BITMIME") {
		fmt.Fprintf(&b, " BODY=%s", o.Body)
	}
	if o.Auth != nil {
		b.WriteString(" AUTH=")
		if *o.Auth == "" {
			b.WriteString("<>")
		} else {
			b.WriteString(xtext(*o.Auth))
		}
	}
	return b.String()
}

// xtext encodes an AUTH= value (RFC 3461 section 4).
func xtext(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' || c == '+' || c == '=' {
			fmt.Fprintf(&b, "+%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// reply reads one reply: nil for 2xx, the backend's refusal otherwise,
// or an error when the connection failed or the backend is closing it.
func (bc *backendConn) reply() (*smtp.SMTPError, error) {
	code, text, err := bc.tr.ReadResponse(0)
	switch {
	case err != nil:
		return nil, err
	case code == 421:
		return nil, fmt.Errorf("backend closing the connection: %d %s", code, text)
	case code >= 200 && code < 300:
		return nil, nil
	}
	return parseReply(code, text), nil
}

// parseReply splits a reply's enhanced status code (RFC 2034) from its
// text.
func parseReply(code int, text string) *smtp.SMTPError {
	reply := &smtp.SMTPError{Code: code, EnhancedCode: smtp.NoEnhancedCode, Message: text}
	first, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(first, ".")
	if len(parts) != 3 {
		return reply
	}
	var enh smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return reply
		}
		enh[i] = n
	}
	reply.EnhancedCode, reply.Message = enh, rest
	return reply
}

// wireAddr spells an address as it goes between angle brackets on the
// backend's command line. go-smtp hands the session a quoted local part
// unquoted ("a b"@x as a b@x), which must be quoted again, and a domain
// as it came, which must be one; ok is false for an address that cannot
// be passed on (control characters, or a domain that is not one), which
// is refused at once.
func wireAddr(addr string) (string, bool) {
	if addr == "" {
		return "", true
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", false
	}
	local, domain := addr[:at], addr[at+1:]
	for i := 0; i < len(domain); i++ {
		if c := domain[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return "", false
		}
	}
	if isDotAtom(local) {
		return addr, true
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c < ' ' || c == 0x7f {
			return "", false
		}
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteString(`"@`)
	b.WriteString(domain)
	return b.String(), true
}

// isDotAtom reports whether s needs no quotes as a local part (RFC 5321
// section 4.1.2).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 ||
			strings.IndexByte(".!#$%&'*+-/=?^_`{|}~", c) >= 0) {
			return false
		}
	}
	return true
}

// backendTimeout is how long the proxy waits on a backend for each read
// and write: Cyrus's lmtptxn_timeout. It bounds each step, not the
// transaction, which a slow client's large message can make long.
const backendTimeout = 5 * time.Minute

// idleConn renews its deadlines as it reads and writes.
type idleConn struct {
	net.Conn
	rd, wd renewal
}

func newIdleConn(c net.Conn, idle time.Duration) *idleConn {
	return &idleConn{Conn: c, rd: renewal{length: idle, set: c.SetReadDeadline}, wd: renewal{length: idle, set: c.SetWriteDeadline}}
}

func (c *idleConn) Read(b []byte) (int, error) {
	c.rd.renew()
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	c.wd.renew()
	return c.Conn.Write(b)
}
