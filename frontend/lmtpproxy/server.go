package lmtpproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
)

// Locator is what the proxy reads of the location cache.
type Locator interface {
	// Find returns a mailbox's entry; found is false when there is no
	// such mailbox, err set when that cannot be told now. roost-frontend
	// asks the cluster about a name its cache lacks, so that mail to a
	// mailbox created a moment ago is not refused.
	Find(ctx context.Context, name string) (e locator.Entry, found bool, err error)
	// Ready reports whether the cache ever completed a sync.
	Ready() bool
	// Lag says, among other things, when the cache last heard from the
	// cluster (zero: not since it was opened).
	Lag() (revisions uint64, inSyncAt, lastContact time.Time)
}

// Config configures a Server.
type Config struct {
	// Locator says where mailboxes live. Required.
	Locator Locator
	// Namespace maps addresses as the backends do. Nil: Cyrus's defaults.
	Namespace *namespace.Namespace
	// Recipients are the backends' postuser and lmtp_downcase_rcpt.
	Recipients namespace.RecipientRules
	// BackendMap says where a location's server has its LMTP service; a
	// server not in it is dialled on its host at port 24.
	BackendMap servermap.Map
	// ProxyUser and ProxyPassword: backend connections authenticate with
	// AUTH PLAIN as ProxyUser, as Cyrus's lmtpproxyd does with
	// proxy_authname. Empty: no AUTH.
	ProxyUser, ProxyPassword string
	// MaxStaleness is how long the cache may have been out of touch with
	// the cluster before RCPTs are tempfailed (0: 5 minutes).
	MaxStaleness time.Duration
	// MaxMessageBytes refuses larger messages (0: no limit, as Cyrus's
	// maxmessagesize).
	MaxMessageBytes int64
	// MaxRecipients bounds the recipients of one message (0: 1000).
	MaxRecipients int
	// IdleTimeout ends a connection that sends nothing for this long,
	// inside a message too (0: 5 minutes).
	IdleTimeout time.Duration
	// SpoolDir holds messages going to several backends, in files
	// unlinked as soon as they are made ("": os.TempDir()).
	SpoolDir string
	// Hostname is the name in the greeting and the LHLO to backends ("":
	// os.Hostname()).
	Hostname string
	// Logger receives the proxy's log; nil discards.
	Logger *slog.Logger
	// Metrics, when set, receives the proxy's series.
	Metrics prometheus.Registerer
}

// Server is one LMTP proxy; it serves any number of listeners.
type Server struct {
	cfg     Config // immutable after New
	logger  *slog.Logger
	m       *metrics
	smtp    *smtp.Server
	pool    *pool
	started time.Time
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Server, error) {
	if cfg.Locator == nil {
		return nil, errors.New("lmtpproxy: Config.Locator is required")
	}
	if cfg.Namespace == nil {
		ns, err := namespace.New(nil)
		if err != nil {
			return nil, err
		}
		cfg.Namespace = ns
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = 5 * time.Minute
	}
	if cfg.MaxRecipients == 0 {
		cfg.MaxRecipients = 1000
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, logger: logger.With("component", "lmtpproxy"), m: newMetrics(cfg.Metrics),
		started: time.Now()}
	s.pool = newPool(s)
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.LMTP = true
	srv.Domain = cfg.Hostname
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	// No limit on lines, which would bind message lines too: paramConn
	// bounds command lines.
	srv.MaxLineLength = 0
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)
	s.smtp = srv
	return s, nil
}

// Serve accepts LMTP connections on l until Close, or until l fails.
func (s *Server) Serve(l net.Listener) error {
	err := s.smtp.Serve(&listener{Listener: l, s: s})
	if errors.Is(err, smtp.ErrServerClosed) {
		return net.ErrClosed
	}
	return err
}

// listener hands go-smtp connections that carry IGNOREQUOTA.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newParamConn(c, l.s.cfg.IdleTimeout), nil
}

// Close stops serving, ends every client connection and closes the kept
// backend connections.
func (s *Server) Close() error {
	err := s.smtp.Close()
	s.pool.close()
	return err
}

// fresh says whether the cache may be trusted with a RCPT now: nil, or the
// temporary failure to give.
func (s *Server) fresh() error {
	loc := s.cfg.Locator
	if !loc.Ready() {
		return s.tempfail(causeUnsynced, smtp.EnhancedCode{4, 4, 3},
			"Mailbox locations are not known yet (the frontend's cache is still syncing); try again later")
	}
	_, _, contact := loc.Lag()
	if contact.IsZero() {
		contact = s.started
	}
	if since := time.Since(contact); since > s.cfg.MaxStaleness {
		return s.tempfail(causeStale, smtp.EnhancedCode{4, 4, 3},
			"Mailbox locations may be stale (no word from the cluster for %s); try again later", since.Round(time.Second))
	}
	return nil
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	pc, ok := c.Conn().(*paramConn)
	if !ok {
		return nil, fmt.Errorf("lmtpproxy: a connection not from Serve")
	}
	s.m.connOpened()
	return &session{s: s, conn: pc, logger: s.logger.With("remote_addr", c.Conn().RemoteAddr().String())}, nil
}
