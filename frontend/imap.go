package frontend

import (
	"fmt"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapproxy"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/raftfsm/client"
)

// IMAPAddr returns the address the IMAP listener is bound to.
func (f *Frontend) IMAPAddr() string { return f.imap.addr(false) }

// IMAPSAddr returns the address the implicit-TLS listener is bound to.
func (f *Frontend) IMAPSAddr() string { return f.imap.addr(true) }

func (f *Frontend) startIMAP() (*listeners, error) {
	cfg := f.cfg
	ns, err := namespace.New(&cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	tlsConf, err := cfg.clientTLS()
	if err != nil {
		return nil, err
	}
	var proxyPassword string
	if cfg.ProxyPasswordFile != "" {
		if proxyPassword, err = client.ReadPassword(cfg.ProxyPasswordFile); err != nil {
			return nil, fmt.Errorf("frontend: --proxy-password-file: %w", err)
		}
	}
	groups := func(userid string) []string { return acl.UnixGroups(userid, acl.GroupFile) }
	if cfg.NoUnixGroups {
		groups = nil
	}
	srv, err := imapproxy.New(imapproxy.Config{Groups: groups,
		Locator: f.cache, Namespace: ns, Admins: cfg.Admins, BackendMap: cfg.BackendMap,
		ProxyUser: cfg.ProxyUser, ProxyPassword: proxyPassword, BackendTLS: cfg.BackendTLS,
		TLS: tlsConf, RequireTLS: cfg.RequireTLS, DefaultBackend: cfg.DefaultBackend,
		MaxConnsPerIP: cfg.MaxConnsPerIP, IdleTimeout: cfg.IdleTimeout, Logger: f.logger, Metrics: f.reg,
	})
	if err != nil {
		return nil, err
	}
	return f.listen("IMAP", srv, cfg.IMAPAddr, cfg.IMAPSAddr, "--imap-addr", "--imaps-addr")
}
