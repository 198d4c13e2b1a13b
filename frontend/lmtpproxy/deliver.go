package lmtpproxy

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// group is what one backend gets: its recipients, each address once.
type group struct {
	server      string
	addrs       []string
	ignoreQuota map[string]bool
}

func (c *session) groups() []*group {
	var out []*group
	byServer := map[string]*group{}
	seen := map[string]bool{}
	for _, r := range c.rcpts {
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
	groups := c.groups()
	body := &checkedReader{r: r}
	env := envelope{from: c.from, opts: c.opts}
	var results map[string]error
	if len(groups) == 1 {
		results = s.deliver(groups[0], env, body, body)
	} else {
		results = s.deliverSpooled(groups, env, body)
	}
	io.Copy(io.Discard, r)
	s.m.delivery(len(groups), body.n)
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
	c.logger.Info("delivered", "from", c.from, "rcpts", len(c.rcpts), "backends", len(groups), "bytes", body.n)
	return nil
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
	results := make(map[string]error, len(g.addrs))
	all := func(err error) map[string]error {
		for _, a := range g.addrs {
			if _, done := results[a]; !done {
				results[a] = err
			}
		}
		return results
	}
	down := func(err error) map[string]error {
		s.logger.Warn("backend LMTP failed", "server", g.server, "err", err)
		s.m.transaction(g.server, "failed")
		return all(s.tempfail(causeDown, smtp.EnhancedCode{4, 4, 1}, "Backend %s is not reachable; try again later", g.server))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bc, err := s.pool.get(ctx, g.server)
	if err != nil {
		return down(err)
	}
	accepted, err := bc.begin(s, env, g, results)
	if err != nil && bc.reused {
		// A kept connection the backend has since closed: once more, anew.
		bc.abort()
		clear(results)
		if bc, err = s.pool.dial(ctx, g.server); err != nil {
			return down(err)
		}
		accepted, err = bc.begin(s, env, g, results)
	}
	if err != nil {
		bc.abort()
		return down(err)
	}
	if len(accepted) == 0 {
		s.m.transaction(g.server, "refused")
		if bc.c.Reset() == nil {
			s.pool.put(bc)
		} else {
			bc.abort()
		}
		return results
	}
	w, err := bc.c.Data()
	if err != nil {
		bc.abort()
		if reply := (*smtp.SMTPError)(nil); errors.As(err, &reply) && reply.Code != 421 {
			s.m.transaction(g.server, "refused")
			return all(s.backendReply(g.server, reply))
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
			results[a] = s.backendReply(g.server, perRcpt[a])
		}
	}
	if err != nil && perRcpt == nil || len(resp)+len(perRcpt) < len(accepted) {
		// The connection broke after the message: what the backend did
		// with it is unknown, and a retry is safe (Cyrus suppresses
		// duplicates by Message-ID).
		bc.abort()
		return down(err)
	}
	s.m.transaction(g.server, "ok")
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
	for _, x := range b[:n] {
		if c.prevCR != (x == '\n') {
			c.err = errBareNL
			return 0, c.err
		}
		c.prevCR = x == '\r'
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
