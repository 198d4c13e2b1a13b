package lmtpproxy

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/roost-mail/roost/frontend/servermap"
)

// Kept backend connections: Cyrus's lmtpd closes an idle one after a few
// minutes, so the proxy keeps them for less, and a few per backend, enough
// for the deliveries that run at once.
const (
	keepIdle    = time.Minute
	keepPerHost = 16
)

// pool keeps logged-in backend connections between deliveries.
type pool struct {
	s *Server

	mu     sync.Mutex
	idle   map[string][]*backendConn // protected by mu: by server, newest last
	closed bool                      // protected by mu
	stop   chan struct{}
	done   chan struct{}
}

// backendConn is one logged-in LMTP connection to a backend.
type backendConn struct {
	server      string
	c           *smtp.Client
	conn        *rcptConn
	ignoreQuota bool      // the backend takes IGNOREQUOTA
	reused      bool      // it served a delivery before
	idleSince   time.Time // when it was put back
}

func newPool(s *Server) *pool {
	p := &pool{s: s, idle: map[string][]*backendConn{}, stop: make(chan struct{}), done: make(chan struct{})}
	go p.sweep()
	return p
}

// get returns a kept connection to server, or a new one.
func (p *pool) get(ctx context.Context, server string) (*backendConn, error) {
	p.mu.Lock()
	for list := p.idle[server]; len(list) > 0; list = p.idle[server] {
		bc := list[len(list)-1]
		p.idle[server] = list[:len(list)-1]
		if time.Since(bc.idleSince) < keepIdle {
			p.mu.Unlock()
			bc.reused = true
			return bc, nil
		}
		bc.abort()
	}
	p.mu.Unlock()
	return p.dial(ctx, server)
}

// put keeps bc for the next delivery.
func (p *pool) put(bc *backendConn) {
	bc.idleSince = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle[bc.server]) >= keepPerHost {
		p.mu.Unlock()
		bc.close()
		return
	}
	p.idle[bc.server] = append(p.idle[bc.server], bc)
	p.mu.Unlock()
}

// sweep closes connections kept too long, so that no backend is left
// with sockets the proxy will not use.
func (p *pool) sweep() {
	defer close(p.done)
	t := time.NewTicker(keepIdle / 2)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		var stale []*backendConn
		p.mu.Lock()
		for server, list := range p.idle {
			kept := list[:0]
			for _, bc := range list {
				if time.Since(bc.idleSince) >= keepIdle {
					stale = append(stale, bc)
				} else {
					kept = append(kept, bc)
				}
			}
			p.idle[server] = kept
		}
		p.mu.Unlock()
		for _, bc := range stale {
			bc.close()
		}
	}
}

func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	var all []*backendConn
	for _, list := range p.idle {
		all = append(all, list...)
	}
	p.idle = nil
	p.mu.Unlock()
	close(p.stop)
	<-p.done
	for _, bc := range all {
		bc.close()
	}
}

// dial connects to server's LMTP service, introduces the proxy and logs
// in as the proxy identity.
func (p *pool) dial(ctx context.Context, server string) (*backendConn, error) {
	cfg := &p.s.cfg
	addr := cfg.BackendMap.Addr(server, servermap.LMTP)
	var d net.Dialer
	raw, err := d.DialContext(ctx, servermap.Network(addr), addr)
	if err != nil {
		return nil, err
	}
	conn := &rcptConn{Conn: raw}
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout, c.SubmissionTimeout = time.Minute, 5*time.Minute
	if deadline, ok := ctx.Deadline(); ok {
		raw.SetDeadline(deadline)
	}
	err = c.Hello(cfg.Hostname)
	if err == nil && cfg.ProxyUser != "" {
		err = c.Auth(sasl.NewPlainClient("", cfg.ProxyUser, cfg.ProxyPassword))
	}
	raw.SetDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	ok, _ := c.Extension("IGNOREQUOTA")
	return &backendConn{server: server, c: c, conn: conn, ignoreQuota: ok}, nil
}

// reset ends the transaction under way without a message and keeps the
// connection for the next.
func (bc *backendConn) reset(p *pool) {
	if bc.c.Reset() == nil {
		p.put(bc)
	} else {
		bc.abort()
	}
}

// close ends an idle connection politely.
func (bc *backendConn) close() {
	bc.conn.SetDeadline(time.Now().Add(2 * time.Second))
	bc.c.Quit()
	bc.c.Close()
}

// abort drops the connection; in the middle of a message, the backend
// then delivers nothing.
func (bc *backendConn) abort() { bc.c.Close() }
