package imapproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/frontend/internal/connset"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
)

// Locator is what the proxy reads of the location cache.
type Locator interface {
	Lookup(name string) (locator.Entry, bool)
	List(prefix string, fn func(locator.Entry) bool) error
	WaitFor(ctx context.Context, cond func() bool) error
	Ready() bool
	// Servers counts mailboxes per server, for placing new ones.
	Servers() map[string]int
}

var _ Locator = (*locator.Cache)(nil)

// Config configures a Server.
type Config struct {
	// Locator says where mailboxes live. Required.
	Locator Locator
	// Namespace maps names as the backends do. Nil: Cyrus's defaults.
	Namespace *namespace.Namespace
	// Admins are Cyrus admins: they see and may route to every mailbox.
	Admins []string
	// Groups, when set, returns the group:NAME identifiers a user's
	// rights include, as the backends' auth mechanism has them (Cyrus's
	// default: acl.UnixGroups).
	Groups func(userid string) []string
	// BackendMap says where a location's server has its IMAP service; a
	// server not in it is dialled as its name, host[:port] (port 143 if
	// none), as Cyrus frontends do.
	BackendMap servermap.Map
	// ProxyUser and ProxyPassword: every backend connection but the one
	// that checked the client's password logs in as ProxyUser with the
	// client's user as authzid. Empty: with the client's own credentials.
	ProxyUser, ProxyPassword string
	// BackendTLS, when set, is used to STARTTLS to backends.
	BackendTLS *tls.Config
	// TLS, when set, offers STARTTLS to clients.
	TLS *tls.Config
	// RequireTLS: no LOGIN or AUTHENTICATE before TLS.
	RequireTLS bool
	// MaxConnsPerIP bounds one client address's connections (0: 50).
	MaxConnsPerIP int
	// IdleTimeout ends a session that sends nothing (0: 30 minutes).
	IdleTimeout time.Duration
	// MaxMessage bounds a client's literal, an APPENDed message's
	// included (0: 64 MiB).
	MaxMessage int64
	// DefaultBackend is the server new top-level and user mailboxes go
	// to; empty: the one holding the fewest mailboxes.
	DefaultBackend string
	// CacheWait bounds how long a CREATE, RENAME or DELETE waits for the
	// cache to show it before answering (0: 5 s).
	CacheWait time.Duration
	// Logger receives sessions' lifecycle; nil discards.
	Logger *slog.Logger
	// Metrics, when set, gets the proxy's series.
	Metrics prometheus.Registerer
}

// Server serves IMAP clients.
type Server struct {
	cfg    Config
	ns     *namespace.Namespace
	logger *slog.Logger
	m      *metrics // may be nil

	conns *connset.Set // clients' and backends'
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Locator == nil {
		return nil, errors.New("imapproxy: no Locator")
	}
	if cfg.Namespace == nil {
		ns, err := namespace.New(nil)
		if err != nil {
			return nil, err
		}
		cfg.Namespace = ns
	}
	if cfg.MaxConnsPerIP == 0 {
		cfg.MaxConnsPerIP = 50
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = 64 << 20
	}
	if cfg.CacheWait == 0 {
		cfg.CacheWait = 5 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, ns: cfg.Namespace, logger: logger.With("component", "imapproxy"),
		conns: connset.New(cfg.MaxConnsPerIP)}
	if cfg.Metrics != nil {
		s.m = newMetrics(cfg.Metrics)
	}
	return s, nil
}

// Serve accepts clients on l until Close; with implicitTLS each
// connection starts TLS at once (IMAPS).
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	h := connset.Handlers{Refusal: "* BYE [UNAVAILABLE] too many connections from your address", Refused: s.m.connRefused,
		Serve: func(conn net.Conn) {
			s.m.connOpened()
			defer s.m.connClosed()
			newSession(s, conn, implicitTLS).serve()
		}}
	if implicitTLS {
		h.TLS = s.cfg.TLS
	}
	return s.conns.Serve(l, h)
}

// Close stops every listener and ends every session.
func (s *Server) Close() error {
	s.conns.Close()
	return nil
}

// track registers a backend connection so that Close ends it; it reports
// false, closing conn, once the server is closing.
func (s *Server) track(conn net.Conn) bool { return s.conns.Track(conn) }

func (s *Server) untrack(conn net.Conn) { s.conns.Untrack(conn) }

// resolve returns the address to dial for a location's server name.
func (s *Server) resolve(server string) string {
	return s.cfg.BackendMap.Addr(server, servermap.IMAP)
}

func (s *Server) isAdmin(user string) bool { return slices.Contains(s.cfg.Admins, user) }
