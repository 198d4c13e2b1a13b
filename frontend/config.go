package frontend

import (
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/roost-mail/roost/raftfsm/certs"
	"log/slog"
	"time"

	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
	"github.com/roost-mail/roost/raftfsm/client"
)

// Defaults: with no flags at all roost-frontend follows a roostd on its
// default gRPC address and listens on loopback.
const (
	DefaultEndpoint = "127.0.0.1:3906"
	DefaultIMAPAddr = "127.0.0.1:1143"
	DefaultHTTPAddr = "127.0.0.1:3909"
	DefaultDataDir  = "roost-frontend-data"
)

// Config is what a frontend runs with. Its zero value is not usable;
// cmd/roost-frontend fills the defaults above.
type Config struct {
	// Endpoints are the cluster's gRPC addresses, tried in order.
	Endpoints []string
	// ClusterCA, ClusterCert and ClusterKey are PEM files: TLS to the
	// cluster, with a client certificate naming the frontend role. Empty:
	// plaintext, which nodes take on loopback only.
	ClusterCA, ClusterCert, ClusterKey string
	// ClusterUser and ClusterPasswordFile identify the frontend to the
	// cluster by password instead of a certificate (with ClusterCA).
	ClusterUser, ClusterPasswordFile string
	// DataDir holds the location cache.
	DataDir string

	// IMAPAddr is the IMAP listener (STARTTLS when TLSCert is set);
	// IMAPSAddr, when set, a listener that speaks TLS at once.
	IMAPAddr, IMAPSAddr string
	// TLSCert and TLSKey are PEM files for the client-facing listeners.
	TLSCert, TLSKey string
	// RequireTLS: no LOGIN or AUTHENTICATE before TLS (LOGINDISABLED).
	RequireTLS bool
	// Insecure lets IMAP listen beyond loopback without TLS.
	Insecure bool
	// POP3Addr is the POP3 listener (STLS when TLSCert is set);
	// POP3SAddr, when set, one that speaks TLS at once. Empty: none.
	POP3Addr, POP3SAddr string
	// LMTPAddr is the LMTP listener: host:port, or a Unix socket path
	// (anything with a '/'); empty: none.
	LMTPAddr string
	// MaxStaleness is how long the cache may be out of touch with the
	// cluster before LMTP recipients are tempfailed (0: 5 minutes).
	MaxStaleness time.Duration
	// LMTPIdleTimeout ends an LMTP connection that sends nothing for
	// this long, inside a message too (zero: 5 minutes).
	LMTPIdleTimeout time.Duration
	// Recipients are the backends' postuser and lmtp_downcase_rcpt.
	Recipients namespace.RecipientRules
	// HTTPAddr serves /metrics, /healthz and /readyz; empty: none.
	HTTPAddr string
	// Pprof serves Go's profiles on HTTPAddr too, at /debug/pprof/.
	Pprof bool

	// ProxyUser and ProxyPasswordFile: the identity every backend
	// connection logs in as, with the client's user as the SASL authzid
	// (a backend must list it in proxyservers). Empty: backend
	// connections log in with the client's own credentials.
	ProxyUser, ProxyPasswordFile string
	// BackendMap says where a location's server has its IMAP, LMTP and
	// POP3 services; a server not in it is dialled as its name,
	// host[:port] (port 143 if none) for IMAP, and on its host at ports
	// 24 and 110 for LMTP and POP3.
	BackendMap servermap.Map
	// BackendTLS, when set, is used to STARTTLS on every backend
	// connection before logging in; nil: plaintext.
	BackendTLS *tls.Config
	// DefaultBackend is the server new top-level and user mailboxes are
	// created on; empty: the server holding the fewest mailboxes.
	DefaultBackend string
	// Namespace is the backends' namespace settings (imapd.conf).
	Namespace namespace.Config
	// Admins are Cyrus admins (imapd.conf admins): they see every mailbox.
	Admins []string
	// NoUnixGroups: a user's rights do not include those of the system
	// groups (/etc/group) it is in, as with the backends'
	// unix_group_enable: no.
	NoUnixGroups bool

	// MaxConnsPerIP bounds the connections from one client address
	// (zero: 50). IdleTimeout ends a session that sends nothing (zero:
	// 30 minutes, RFC 9051's minimum).
	MaxConnsPerIP int
	IdleTimeout   time.Duration

	// Logger receives the frontend's log; nil discards.
	Logger *slog.Logger
}

// Check reports what makes cfg unusable, before anything is opened.
func (c *Config) Check() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("--endpoints: at least one is needed"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is empty"))
	}
	if c.IMAPAddr == "" && c.IMAPSAddr == "" && c.LMTPAddr == "" && c.POP3Addr == "" && c.POP3SAddr == "" {
		errs = append(errs, errors.New("--imap-addr, --imaps-addr, --lmtp-addr, --pop3-addr or --pop3s-addr is needed"))
	}
	if c.POP3SAddr != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("--pop3s-addr needs --tls-cert and --tls-key"))
	}
	if c.TLSCert == "" && !c.Insecure && c.POP3Addr != "" && !certs.IsLoopback(c.POP3Addr) {
		errs = append(errs, fmt.Errorf("--pop3-addr %s is beyond loopback: give --tls-cert and --tls-key, or --insecure", c.POP3Addr))
	}
	if c.LMTPAddr != "" && !isSocketPath(c.LMTPAddr) && !c.Insecure && !certs.IsLoopback(c.LMTPAddr) {
		errs = append(errs, fmt.Errorf("--lmtp-addr %s is beyond loopback, where LMTP has neither TLS nor logins: use a loopback address or a Unix socket, or --insecure", c.LMTPAddr))
	}
	if c.MaxStaleness < 0 {
		errs = append(errs, errors.New("--max-staleness must not be negative"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.IMAPSAddr != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("--imaps-addr needs --tls-cert and --tls-key"))
	}
	if c.RequireTLS && c.TLSCert == "" {
		errs = append(errs, errors.New("--require-tls needs --tls-cert and --tls-key"))
	}
	if c.TLSCert == "" && !c.Insecure && c.IMAPAddr != "" && !certs.IsLoopback(c.IMAPAddr) {
		errs = append(errs, fmt.Errorf("--imap-addr %s is beyond loopback: give --tls-cert and --tls-key, or --insecure", c.IMAPAddr))
	}
	if (c.ProxyUser == "") != (c.ProxyPasswordFile == "") {
		errs = append(errs, errors.New("--proxy-user and --proxy-password-file go together"))
	}
	if (c.ClusterCert == "") != (c.ClusterKey == "") {
		errs = append(errs, errors.New("--cluster-cert and --cluster-key go together"))
	}
	if (c.ClusterUser == "") != (c.ClusterPasswordFile == "") {
		errs = append(errs, errors.New("--cluster-user and --cluster-password-file go together"))
	}
	if c.ClusterCA == "" && (c.ClusterCert != "" || c.ClusterUser != "") {
		errs = append(errs, errors.New("--cluster-cert and --cluster-user need --cluster-cacert"))
	}
	if err := c.Namespace.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// clusterClient is the client configuration for the cluster.
func (c *Config) clusterClient() (client.Config, error) {
	cfg, err := client.Files{CA: c.ClusterCA, Cert: c.ClusterCert, Key: c.ClusterKey,
		User: c.ClusterUser, PasswordFile: c.ClusterPasswordFile}.Config()
	if err != nil {
		return cfg, fmt.Errorf("frontend: cluster credentials: %w", err)
	}
	cfg.Endpoints, cfg.AttemptTimeout = c.Endpoints, 10*time.Second
	return cfg, nil
}
