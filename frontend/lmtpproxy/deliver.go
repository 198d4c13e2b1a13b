package lmtpproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// envelope is what every backend's MAIL gets.
type envelope struct {
	from string
	opts smtp.MailOptions
}

// LMTPData passes the message to every backend involved, as the client
// sent it (message.go), streamed to one or held in an unlinked file for
// several, and gives each recipient the status its backend gave it. It
// reads the message to its end before giving any status, so that replies
// never overtake the client's data.
func (c *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	// go-smtp may reset the session while this runs (RSET after a BDAT
	// chunk): work from a copy of the transaction.
	s := c.s
	rcpts := slices.Clone(c.rcpts)
	groups := groupsOf(rcpts)
	env := envelope{from: c.from, opts: c.opts}
	msg := c.conn.message(s.cfg.MaxMessageBytes)
	// The 354 go-smtp wrote goes now: the client sends the message while
	// the backend answers MAIL, RCPT and DATA, not after.
	msg.start()
	body := &checkedReader{r: msg}
	var results map[string]error
	if len(groups) == 1 {
		results = s.deliver(groups[0], env, body, body)
	} else {
		results = s.deliverSpooled(groups, env, body)
	}
	msg.drain()
	io.Copy(io.Discard, r) // the final dot alone, unless the connection broke
	s.m.delivery(len(groups), msg.size())
	for _, rc := range rcpts {
		err := results[rc.addr]
		status.SetStatus(rc.addr, err)
		var reply *smtp.SMTPError
		if errors.As(err, &reply) {
			s.m.status(reply.Code)
		} else if err == nil {
			s.m.status(250)
		}
	}
	// The backends log every delivery themselves, and so does the MTA.
	c.logger.Debug("delivered", "from", env.from, "rcpts", len(rcpts), "backends", len(groups), "bytes", msg.size())
	return nil
}

// groupsOf are recipients by backend, in the order each backend was first
// named, each address once.
func groupsOf(rcpts []rcpt) []*group {
	var out []*group
	byServer := map[string]*group{}
	seen := map[string]bool{}
	for _, r := range rcpts {
		g := byServer[r.server]
		if g == nil {
			g = &group{server: r.server, ignoreQuota: map[string]bool{}}
			byServer[r.server] = g
			out = append(out, g)
		}
		if r.ignoreQuota {
			g.ignoreQuota[r.addr] = true
		}
		if !seen[r.addr] {
			seen[r.addr] = true
			g.addrs = append(g.addrs, r.addr)
		}
	}
	return out
}

// deliverSpooled holds the message in a file, then gives it to every
// group's backend at once.
func (s *Server) deliverSpooled(groups []*group, env envelope, body *checkedReader) map[string]error {
	results := map[string]error{}
	fail := func(err error) map[string]error {
		for _, g := range groups {
			for _, a := range g.addrs {
				results[a] = err
			}
		}
		return results
	}
	f, err := os.CreateTemp(s.cfg.SpoolDir, "roost-lmtp-*")
	if err != nil {
		s.logger.Error("cannot hold a message on disk", "dir", s.cfg.SpoolDir, "err", err)
		return fail(s.tempfail(causeSpool, smtp.EnhancedCode{4, 3, 0}, "Cannot hold the message on disk; try again later"))
	}
	// Unlinked at once, the file is gone when the process is, whatever
	// happens next.
	os.Remove(f.Name())
	defer f.Close()
	size, err := io.Copy(f, body)
	if err != nil {
		if body.err != nil {
			return fail(s.bodyFailure(body.err))
		}
		s.logger.Error("cannot hold a message on disk", "dir", s.cfg.SpoolDir, "err", err)
		return fail(s.tempfail(causeSpool, smtp.EnhancedCode{4, 3, 0}, "Cannot hold the message on disk; try again later"))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := s.deliver(g, env, io.NewSectionReader(f, 0, size), nil)
			mu.Lock()
			defer mu.Unlock()
			for a, err := range res {
				results[a] = err
			}
		}()
	}
	wg.Wait()
	return results
}

// deliver runs one LMTP transaction on g's backend, reading the message
// from msg; checked, when msg is the client's data itself, tells a fault
// of the message from one of the backend. It returns each address's
// status (nil: delivered).
func (s *Server) deliver(g *group, env envelope, msg io.Reader, checked *checkedReader) map[string]error {
	down := func(err error) map[string]error {
		s.logger.Warn("backend LMTP failed", "server", g.server, "err", err)
		s.m.transaction(g.server, "failed")
		results := make(map[string]error, len(g.addrs))
		for _, a := range g.addrs {
			results[a] = s.tempfail(causeDown, smtp.EnhancedCode{4, 4, 1}, "Backend %s is not reachable; try again later", g.server)
		}
		return results
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bc, err := s.pool.get(ctx, g.server)
	if err != nil {
		return down(err)
	}
	out, err := bc.transact(s, env, g, msg)
	if err != nil && bc.reused && !out.sentData {
		// A kept connection the backend has since closed: once more, anew.
		bc.abort()
		if bc, err = s.pool.dial(ctx, g.server); err != nil {
			return down(err)
		}
		out, err = bc.transact(s, env, g, msg)
	}
	if checked != nil && checked.err != nil {
		// The message broke: without its final dot the backend delivers
		// nothing, and every recipient gets the message's fault.
		bc.abort()
		fault := s.bodyFailure(checked.err)
		results := make(map[string]error, len(g.addrs))
		for _, a := range g.addrs {
			results[a] = fault
		}
		return results
	}
	if err != nil {
		// After the message, what the backend did with it is unknown, and
		// a retry is safe: Cyrus suppresses duplicates by Message-ID.
		bc.abort()
		return down(err)
	}
	results := out.refused
	for a, st := range out.status {
		results[a] = st
	}
	switch {
	case out.unclean:
		bc.abort()
		s.m.transaction(g.server, "refused")
	case len(out.accepted) == 0:
		bc.reset(s.pool)
		s.m.transaction(g.server, "refused")
	default:
		s.pool.put(bc)
		s.m.transaction(g.server, "ok")
	}
	return results
}

// backendReply is the status a recipient gets for a backend's refusal. A
// backend that does not have the mailbox the cluster places on it gives a
// temporary failure: the location may have changed a moment ago, and a
// bounce would be final.
func (s *Server) backendReply(server string, reply *smtp.SMTPError) error {
	switch {
	case reply.Code/100 == 5 && reply.EnhancedCode == smtp.EnhancedCode{5, 1, 1}:
		return s.tempfail(causeMoved, smtp.EnhancedCode{4, 4, 0},
			"Backend %s has no such mailbox, though the cluster places it there (it may be moving); try again later", server)
	case reply.Code == 421:
		return s.tempfail(causeDown, smtp.EnhancedCode{4, 4, 1}, "Backend %s closed the connection; try again later", server)
	case reply.Code/100 == 4:
		s.m.tempfail(causeBackend)
	}
	return reply
}

// bodyFailure is every recipient's status when the client's message could
// not be taken: too large, bare newlines, or a connection that broke.
func (s *Server) bodyFailure(err error) error {
	var reply *smtp.SMTPError
	switch {
	case errors.Is(err, errBareNL), errors.Is(err, errLongLine):
		return err
	case errors.As(err, &reply):
		return reply
	}
	return s.tempfail(causeClient, smtp.EnhancedCode{4, 4, 2}, "The message broke off: %v", err)
}

// checkedReader reads the client's message, refusing bare CRs and LFs as
// Cyrus's lmtpd does (message_copy_strict): a backend would refuse them,
// or store a message its clients cannot parse. It also refuses lines
// longer than maxLine.
type checkedReader struct {
	r      io.Reader
	prevCR bool
	line   int   // bytes of the line read so far
	err    error // the first read error, io.EOF excepted
}

// maxLine is the longest line, CRLF included, that a message may have.
// Cyrus's lmtpd reads a message a line at a time into a buffer of 8189
// octets (spool_copy_msg) and takes what follows a longer line's first
// 8189 for the start of a line: a dot there would be undone as stuffing,
// and a dot and CRLF taken for the end of the message, the rest of the
// line for commands. The proxy passes the message on as it came, so it
// must refuse such lines rather than let the backend read them so (RFC
// 5322 allows 998 octets anyway).
const maxLine = 8189 + 2

// errLongLine is every recipient's status for a message with a line
// longer than maxLine.
var errLongLine = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0},
	Message: fmt.Sprintf("Message contains a line longer than %d octets", maxLine-2)}

func (c *checkedReader) Read(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(b)
	if !c.clean(b[:n]) {
		c.err = errBareNL
		return 0, c.err
	}
	if c.long(b[:n]) {
		c.err = errLongLine
		return 0, c.err
	}
	if err == io.EOF && c.prevCR {
		err = errBareNL
	}
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// clean reports whether every LF in b follows a CR and every CR is
// followed by an LF, a CR at the end of b by one at the start of the next
// read. It counts rather than looks at each byte: bytes.Count is
// vectorized, and messages are large.
func (c *checkedReader) clean(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	fromPrev := 0
	if c.prevCR {
		if b[0] != '\n' {
			return false
		}
		fromPrev = 1
	}
	pairs := bytes.Count(b, crlf)
	trailingCR := 0
	if b[len(b)-1] == '\r' {
		trailingCR = 1
	}
	c.prevCR = trailingCR == 1
	return bytes.Count(b, lf) == pairs+fromPrev && bytes.Count(b, cr) == pairs+trailingCR
}

// long reports whether b, which follows what was read before, takes a
// line past maxLine.
func (c *checkedReader) long(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.line += len(b)
			return c.line > maxLine
		}
		if c.line+i+1 > maxLine {
			return true
		}
		c.line, b = 0, b[i+1:]
	}
}

var crlf, cr, lf = []byte("\r\n"), []byte("\r"), []byte("\n")
