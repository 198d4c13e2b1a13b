package pop3proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/frontend/internal/connset"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
)

// Locator is what the proxy reads of the location cache.
type Locator interface {
	// Find returns a mailbox's entry; found is false when there is no
	// such mailbox, err set when that cannot be told now. roost-frontend
	// asks the cluster about a name its cache lacks, so that a user
	// created a moment ago can log in.
	Find(ctx context.Context, name string) (e locator.Entry, found bool, err error)
	// Ready reports whether the cache ever completed a sync.
	Ready() bool
}

// Config configures a Server.
type Config struct {
	// Locator says where INBOXes live. Required.
	Locator Locator
	// Namespace maps a login to its INBOX as the backends do. Nil:
	// Cyrus's defaults.
	Namespace *namespace.Namespace
	// BackendMap says where a location's server has its POP3 service; a
	// server not in it is dialled on its host at port 110.
	BackendMap servermap.Map
	// TLS, when set, offers STLS, and serves listeners given implicitTLS.
	TLS *tls.Config
	// RequireTLS: no USER, PASS or AUTH before TLS.
	RequireTLS bool
	// MaxConnsPerIP bounds one client address's connections (0: 50).
	MaxConnsPerIP int
	// IdleTimeout ends a client that sends nothing before it has logged
	// in (0: 10 minutes, RFC 1939's minimum); after, the backend's own
	// timeout applies.
	IdleTimeout time.Duration
	// Logger receives sessions' lifecycle; nil discards.
	Logger *slog.Logger
	// Metrics, when set, gets the proxy's series.
	Metrics prometheus.Registerer
}

// Server serves POP3 clients.
type Server struct {
	cfg    Config
	logger *slog.Logger
	m      *metrics // may be nil
	conns  *connset.Set
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Locator == nil {
		return nil, errors.New("pop3proxy: no Locator")
	}
	if cfg.RequireTLS && cfg.TLS == nil {
		return nil, errors.New("pop3proxy: RequireTLS without TLS")
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
		cfg.IdleTimeout = 10 * time.Minute
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, logger: logger.With("component", "pop3proxy"), m: newMetrics(cfg.Metrics),
		conns: connset.New(cfg.MaxConnsPerIP)}, nil
}

// Serve accepts clients on l until Close; with implicitTLS each
// connection starts TLS at once (POP3S).
func (s *Server) Serve(l net.Listener, implicitTLS bool) error {
	if implicitTLS && s.cfg.TLS == nil {
		return errors.New("pop3proxy: implicit TLS without a certificate")
	}
	h := connset.Handlers{Refusal: "-ERR [SYS/TEMP] too many connections from your address",
		Refused: func() { s.m.session("refused") },
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
