package lmtpproxy

import (
	"context"
	"time"

	"github.com/emersion/go-smtp"
)

// txn is one backend's LMTP transaction. It opens at the first RCPT the
// backend gets, in a goroutine of its own, so that the backend's MAIL and
// RCPT round trips overlap the client's, and the message, once it comes,
// goes straight out.
type txn struct {
	s      *Server
	server string
	in     chan txnRcpt
	ready  chan struct{} // closed once run is done with every RCPT

	// Owned by the session.
	addrs    []string // each address once, in order
	seen     map[string]bool
	finished bool

	// Written by run before ready closes, read after.
	bc       *backendConn // nil when no connection could be made
	accepted []string
	results  map[string]error // the backend's refusals
	err      error            // the connection failed
}

type txnRcpt struct {
	addr        string
	ignoreQuota bool
}

func (s *Server) openTxn(server string, env envelope) *txn {
	t := &txn{s: s, server: server, in: make(chan txnRcpt, 64), ready: make(chan struct{}),
		seen: map[string]bool{}, results: map[string]error{}}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer close(t.ready)
		t.run(env)
	}()
	return t
}

// add gives the backend one more recipient.
func (t *txn) add(addr string, ignoreQuota bool) {
	if t.seen[addr] {
		return
	}
	t.seen[addr] = true
	t.addrs = append(t.addrs, addr)
	t.in <- txnRcpt{addr, ignoreQuota}
}

// finish waits until the backend has answered every RCPT.
func (t *txn) finish() {
	if !t.finished {
		t.finished = true
		close(t.in)
	}
	<-t.ready
}

// release ends a transaction no message will follow: its connection is
// reset and kept, in the background, so that a client's RSET does not
// wait on the backend.
func (t *txn) release() {
	if !t.finished {
		t.finished = true
		close(t.in)
	}
	t.s.bg.Add(1)
	go func() {
		defer t.s.bg.Done()
		<-t.ready
		switch {
		case t.bc == nil:
		case t.err != nil:
			t.bc.abort()
		default:
			t.bc.reset(t.s.pool)
		}
	}()
}

func (t *txn) run(env envelope) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	refused, err := t.mail(ctx, env)
	for r := range t.in {
		switch {
		case err != nil:
		case refused != nil:
			t.results[r.addr] = refused
		default:
			err = t.rcpt(r)
		}
	}
	t.err = err
}

// mail gets a connection and sends MAIL, once more on a new connection
// when a kept one turns out to be closed. It returns the backend's
// refusal of MAIL, as every recipient's status, or the connection's
// failure.
func (t *txn) mail(ctx context.Context, env envelope) (refusal, err error) {
	s := t.s
	bc, err := s.pool.get(ctx, t.server)
	if err != nil {
		return nil, err
	}
	opts := env.opts
	err = bc.c.Mail(env.from, &opts)
	if err != nil && bc.reused && !isRefusal(err) {
		bc.abort()
		if bc, err = s.pool.dial(ctx, t.server); err != nil {
			return nil, err
		}
		err = bc.c.Mail(env.from, &opts)
	}
	t.bc = bc
	if err != nil && isRefusal(err) {
		return s.backendReply(t.server, err.(*smtp.SMTPError)), nil
	}
	return nil, err
}

func (t *txn) rcpt(r txnRcpt) error {
	if r.ignoreQuota && t.bc.ignoreQuota {
		t.bc.conn.armIgnoreQuota()
	}
	err := t.bc.c.Rcpt(r.addr, nil)
	switch {
	case err == nil:
		t.accepted = append(t.accepted, r.addr)
	case isRefusal(err):
		t.results[r.addr] = t.s.backendReply(t.server, err.(*smtp.SMTPError))
	default:
		return err
	}
	return nil
}

// isRefusal reports a backend's reply to a command, as opposed to a
// connection that failed (421 is the backend closing it).
func isRefusal(err error) bool {
	reply, ok := err.(*smtp.SMTPError)
	return ok && reply.Code != 421
}
