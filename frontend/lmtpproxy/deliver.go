package lmtpproxy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/emersion/go-smtp"
)

// envelope is what every backend's MAIL gets.
type envelope struct {
	from string
	opts smtp.MailOptions
}

// LMTPData passes the message to every backend involved, streamed to one
// or held in an unlinked file for several, and gives each recipient the
// status its backend gave it. It reads the message to its end before
// giving any status, so that replies never overtake the client's data.
func (c *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	s := c.s
	txns := c.txns
	c.txns, c.byServer = nil, nil
	for _, t := range txns {
		t.finish()
	}
	body := &checkedReader{r: r}
	var results map[string]error
	if len(txns) == 1 {
		results = s.deliver(txns[0], body, body)
	} else {
		results = s.deliverSpooled(txns, body)
	}
	io.Copy(io.Discard, r)
	s.m.delivery(len(txns), body.n)
	for _, rc := range c.rcpts {
		err := results[rc.addr]
		status.SetStatus(rc.addr, err)
		var reply *smtp.SMTPError
		if errors.As(err, &reply) {
			s.m.status(reply.Code)
		} else if err == nil {
			s.m.status(250)
		}
	}
	c.logger.Info("delivered", "from", c.from, "rcpts", len(c.rcpts), "backends", len(txns), "bytes", body.n)
	return nil
}

// deliverSpooled holds the message in a file, then gives it to every
// transaction's backend at once.
func (s *Server) deliverSpooled(txns []*txn, body *checkedReader) map[string]error {
	results := map[string]error{}
	fail := func(err error) map[string]error {
		for _, t := range txns {
			for _, a := range t.addrs {
				results[a] = err
			}
			t.release()
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
	for _, t := range txns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := s.deliver(t, io.NewSectionReader(f, 0, size), nil)
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

// deliver ends t, its recipients given, with the message read from msg;
// checked, when msg is the client's data itself, tells a fault of the
// message from one of the backend. It returns each address's status
// (nil: delivered).
func (s *Server) deliver(t *txn, msg io.Reader, checked *checkedReader) map[string]error {
	results, accepted, bc := t.results, t.accepted, t.bc
	all := func(err error) map[string]error {
		for _, a := range t.addrs {
			if _, done := results[a]; !done {
				results[a] = err
			}
		}
		return results
	}
	down := func(err error) map[string]error {
		s.logger.Warn("backend LMTP failed", "server", t.server, "err", err)
		s.m.transaction(t.server, "failed")
		return all(s.tempfail(causeDown, smtp.EnhancedCode{4, 4, 1}, "Backend %s is not reachable; try again later", t.server))
	}
	if t.err != nil {
		if bc != nil {
			bc.abort()
		}
		return down(t.err)
	}
	if len(accepted) == 0 {
		s.m.transaction(t.server, "refused")
		bc.reset(s.pool)
		return results
	}
	w, err := bc.c.Data()
	if err != nil {
		bc.abort()
		if reply := (*smtp.SMTPError)(nil); errors.As(err, &reply) && reply.Code != 421 {
			s.m.transaction(t.server, "refused")
			return all(s.backendReply(t.server, reply))
		}
		return down(err)
	}
	if _, err := io.Copy(w, msg); err != nil {
		// Without the final dot the backend delivers nothing.
		bc.abort()
		if checked != nil && checked.err != nil {
			return all(s.bodyFailure(checked.err))
		}
		return down(err)
	}
	if checked != nil && checked.err != nil {
		bc.abort()
		return all(s.bodyFailure(checked.err))
	}
	resp, err := w.CloseWithLMTPResponse()
	var perRcpt smtp.LMTPDataError
	errors.As(err, &perRcpt)
	for _, a := range accepted {
		switch {
		case resp[a] != nil:
			results[a] = nil
		case perRcpt[a] != nil:
			results[a] = s.backendReply(t.server, perRcpt[a])
		}
	}
	if err != nil && perRcpt == nil || len(resp)+len(perRcpt) < len(accepted) {
		// The connection broke after the message: what the backend did
		// with it is unknown, and a retry is safe (Cyrus suppresses
		// duplicates by Message-ID).
		bc.abort()
		return down(err)
	}
	s.m.transaction(t.server, "ok")
	s.pool.put(bc)
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
	case errors.Is(err, errBareNL):
		return errBareNL
	case errors.As(err, &reply):
		return reply
	}
	return s.tempfail(causeClient, smtp.EnhancedCode{4, 4, 2}, "The message broke off: %v", err)
}

// checkedReader reads the client's message, counting it and refusing bare
// CRs and LFs as Cyrus's lmtpd does (message_copy_strict): a backend would
// refuse them, or store a message its clients cannot parse.
type checkedReader struct {
	r      io.Reader
	n      int64
	prevCR bool
	err    error // the first read error, io.EOF excepted
}

func (c *checkedReader) Read(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(b)
	if !c.clean(b[:n]) {
		c.err = errBareNL
		return 0, c.err
	}
	c.n += int64(n)
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

var crlf, cr, lf = []byte("\r\n"), []byte("\r"), []byte("\n")
