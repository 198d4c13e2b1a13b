package lmtpproxy

import (
	"bufio"
	"context"
	"net"
	"net/textproto"
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
	conn        net.Conn
	tr          *textproto.Reader // its replies
	w           *bufio.Writer     // commands and messages
	caps        map[string]bool   // its LHLO keywords, upper-case
	ignoreQuota bool              // it takes IGNOREQUOTA
	reused      bool              // it served a delivery before
	idleSince   time.Time         // when it was put back
}

func (bc *backendConn) has(keyword string) bool { return bc.caps[keyword] }

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

// dial connects to server's LMTP service and, with go-smtp's client,
// reads the greeting, introduces the proxy and logs in as the proxy
// identity; transactions then run on the connection itself.
func (p *pool) dial(ctx context.Context, server string) (*backendConn, error) {
	cfg := &p.s.cfg
	addr := cfg.BackendMap.Addr(server, servermap.LMTP)
	var d net.Dialer
	conn, err := d.DialContext(ctx, servermap.Network(addr), addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	c := smtp.NewClientLMTP(conn)
	err = c.Hello(cfg.Hostname)
	if err == nil && cfg.ProxyUser != "" {
		err = c.Auth(sasl.NewPlainClient("", cfg.ProxyUser, cfg.ProxyPassword))
	}
	conn.SetDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	ic := newIdleConn(conn, backendTimeout)
	bc := &backendConn{server: server, conn: conn, caps: map[string]bool{},
		tr: textproto.NewReader(bufio.NewReader(ic)), w: bufio.NewWriterSize(ic, 64<<10)}
	for _, kw := range []string{"SIZE", "8BITMIME", "IGNOREQUOTA"} {
		bc.caps[kw], _ = c.Extension(kw)
	}
	bc.ignoreQuota = bc.caps["IGNOREQUOTA"]
	return bc, nil
}

// reset ends a transaction without a message and keeps the connection
// for the next.
func (bc *backendConn) reset(p *pool) {
	bc.w.WriteString("RSET\r\n")
	err := bc.w.Flush()
	if err == nil {
		var reply *smtp.SMTPError
		if reply, err = bc.reply(); reply != nil {
			err = reply
		}
	}
	if err != nil {
		bc.abort()
		return
	}
	p.put(bc)
}

// close ends an idle connection politely, without waiting on the
// backend for more than a moment.
func (bc *backendConn) close() {
	bc.conn.SetDeadline(time.Now().Add(2 * time.Second))
	bc.conn.Write([]byte("QUIT\r\n"))
	bc.conn.Close()
}

// abort drops the connection; in the middle of a message, the backend
// then delivers nothing.
func (bc *backendConn) abort() { bc.conn.Close() }
