package mupdatecompat

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/auth"
)

// Cluster is how the server reaches the leader; the node's
// grpcserver.Forwarder is one.
type Cluster interface {
	// Apply applies operations through the leader, once committed.
	Apply(ctx context.Context, ops []raftfsm.Op, atomic bool) (*raftfsm.ApplyResponse, error)
	// ReadIndex waits until the local state holds every change the
	// leader had committed when it was called.
	ReadIndex(ctx context.Context) error
}

// Config configures a Server. Zero values mean the defaults given.
type Config struct {
	// FSM is the node's state machine, which reads are served from.
	FSM *raftfsm.FSM
	// Cluster carries writes to the leader and answers read barriers.
	Cluster Cluster
	// Users authenticates clients (an *auth.UsersFile reads its file
	// again when it changes); nil lets no one in.
	Users auth.Verifier
	// TLS enables STARTTLS and ServeTLS; nil means plaintext only.
	TLS *tls.Config
	// RequireTLS offers no mechanism before STARTTLS. Cyrus clients
	// start TLS only when they find no usable mechanism, so this is how
	// to make them encrypt (see mupdate-protocol notes on STARTTLS).
	RequireTLS bool
	// ServerName is shown in the banner ("roost").
	ServerName string
	// MaxConns caps connections; more are refused with
	// `* BYE "Server Unable"` as Cyrus does (128).
	MaxConns int
	// IdleTimeout closes a connection that sends nothing; RFC 3656 §2
	// requires at least 15 minutes (30m).
	IdleTimeout time.Duration
	// WriteTimeout bounds a write: without a quorum the client hears NO
	// within it, since Cyrus clients never time out (10s).
	WriteTimeout time.Duration
	// LinearizableReads confirms every FIND, LIST and UPDATE with the
	// leader first, so that a read shows every write committed before it
	// from any client, as Cyrus's single master does. Off, a read shows
	// at least every write its own connection was answered OK for
	// (read-your-writes), and never an older state than an earlier read
	// on it: enough for a backend, which reads what it wrote itself.
	LinearizableReads bool
	// ReadWait bounds how long a read waits for this node to catch up
	// (to the connection's last write, or to the leader's commit index);
	// then the client hears NO (5s).
	ReadWait time.Duration
	// FailedAuthDelay slows password guessing (1s).
	FailedAuthDelay time.Duration
	// StreamWriteTimeout disconnects a client that stops reading its
	// replies or its UPDATE stream: each write to the connection must
	// complete within it (1m).
	StreamWriteTimeout time.Duration
	// MaxLine and MaxLiteral bound input (wire defaults).
	MaxLine, MaxLiteral int
	// Metrics, if not nil, is told about connections, logins, commands
	// and streams.
	Metrics Metrics
	// Logger: nil discards.
	Logger *slog.Logger
}

// Server serves MUPDATE (RFC 3656) the way a Cyrus 3.x master does.
type Server struct {
	cfg    Config       // immutable after New
	logger *slog.Logger // immutable

	mu        sync.Mutex
	listeners map[net.Listener]struct{} // protected by mu
	conns     map[*conn]struct{}        // protected by mu
	closed    bool                      // protected by mu
	wg        sync.WaitGroup            // one per connection
}

// New returns a server; it panics if FSM or Cluster is missing.
func New(cfg Config) *Server {
	if cfg.FSM == nil || cfg.Cluster == nil {
		panic("mupdatecompat: Config needs FSM and Cluster")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 30*time.Minute)
	def(&cfg.WriteTimeout, 10*time.Second)
	def(&cfg.ReadWait, 5*time.Second)
	def(&cfg.FailedAuthDelay, time.Second)
	def(&cfg.StreamWriteTimeout, time.Minute)
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 128
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "roost"
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, logger: cfg.Logger.With("component", "mupdate"),
		listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("mupdatecompat: server closed")

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.accept(nc)
	}
}

func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.conns) >= s.cfg.MaxConns {
		// Cyrus's words; its clients then fail over to the next address.
		nc.Write([]byte("* BYE \"Server Unable\"\r\n"))
		nc.Close()
		s.cfg.Metrics.ConnectionRefused()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.cfg.Metrics.Connections("none", 1)
	go func() {
		defer s.wg.Done()
		c.serve()
		s.cfg.Metrics.Connections(c.roleName(), -1)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// ServeTLS accepts connections that start TLS at once: Cyrus clients
// configured with `mupdate_server: host:port/tls`.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("mupdatecompat: ServeTLS without a TLS config")
	}
	return s.Serve(tls.NewListener(l, s.cfg.TLS))
}

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
