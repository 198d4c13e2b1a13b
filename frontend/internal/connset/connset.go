// Package connset is the bookkeeping of a proxy's listeners and
// connections: it admits clients up to a number per address, runs each in
// a goroutine it waits for, and closes everything on Close, backend
// connections included, so that no session outlives its server.
package connset

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Set is the listeners and connections of one server. Its zero value is
// not usable; call New.
type Set struct {
	maxPerIP int // immutable

	mu     sync.Mutex
	perIP  map[string]int            // protected by mu
	conns  map[net.Conn]struct{}     // protected by mu: clients' and backends'
	lis    map[net.Listener]struct{} // protected by mu
	closed bool                      // protected by mu
	wg     sync.WaitGroup
}

// New returns a Set admitting up to maxPerIP clients from one address.
func New(maxPerIP int) *Set {
	return &Set{maxPerIP: maxPerIP, perIP: map[string]int{}, conns: map[net.Conn]struct{}{}, lis: map[net.Listener]struct{}{}}
}

// Handlers say what Serve does with a connection.
type Handlers struct {
	// TLS, when set, makes each connection speak TLS at once.
	TLS *tls.Config
	// Refusal is the line (CRLF added) a client over its address's limit
	// gets before it is closed. Over TLS it gets none: writing would
	// start a handshake in the accept loop.
	Refusal string
	// Refused, when set, is called for each refused client.
	Refused func()
	// Serve runs one admitted client; the connection is closed after.
	Serve func(net.Conn)
}

// Serve accepts clients on l until Close, and returns nil then, or the
// listener's error.
func (s *Set) Serve(l net.Listener, h Handlers) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.lis[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration // after an accept error that may pass
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of file descriptors for now: wait, as net/http
				// does, rather than stop serving for good.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if h.TLS != nil {
			conn = tls.Server(conn, h.TLS)
		}
		if !s.admit(conn) {
			if h.Refused != nil {
				h.Refused()
			}
			if h.TLS == nil && h.Refusal != "" {
				conn.SetWriteDeadline(time.Now().Add(time.Second))
				io.WriteString(conn, h.Refusal+"\r\n")
			}
			conn.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			defer s.release(conn)
			if tc, ok := conn.(*tls.Conn); ok {
				// A client that connects and says nothing must not hold
				// a session's place.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				err := tc.HandshakeContext(ctx)
				cancel()
				if err != nil {
					return
				}
			}
			h.Serve(conn)
		}()
	}
}

func (s *Set) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// RemoteIP is a connection's client address without the port.
func RemoteIP(conn net.Conn) string {
	host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		return conn.RemoteAddr().String()
	}
	return host
}

func (s *Set) admit(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ip := RemoteIP(conn)
	if s.closed || s.perIP[ip] >= s.maxPerIP {
		return false
	}
	s.perIP[ip]++
	s.conns[conn] = struct{}{}
	s.wg.Add(1) // under mu, so that Close waits for it
	return true
}

func (s *Set) release(conn net.Conn) {
	conn.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	ip := RemoteIP(conn)
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	delete(s.conns, conn)
}

// Track registers a backend connection so that Close ends it; it reports
// false, closing conn, once the set is closing.
func (s *Set) Track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		conn.Close()
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

// Untrack forgets a backend connection the session closed itself.
func (s *Set) Untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
}

// Close stops every listener, closes every connection and waits for the
// sessions to end.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	for l := range s.lis {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
