package frontend

import (
	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapproxy"
)

// IMAPAddr returns the address the IMAP listener is bound to.
func (f *Frontend) IMAPAddr() string { return f.imap.addr(false) }

// IMAPSAddr returns the address the implicit-TLS listener is bound to.
func (f *Frontend) IMAPSAddr() string { return f.imap.addr(true) }

func (f *Frontend) startIMAP(p *proxyInputs) (*listeners, error) {
	cfg := f.cfg
	groups := func(userid string) []string { return acl.UnixGroups(userid, acl.GroupFile) }
	if cfg.NoUnixGroups {
		groups = nil
	}
	srv, err := imapproxy.New(imapproxy.Config{Groups: groups,
		Locator: f.cache, Namespace: p.ns, Admins: cfg.Admins, BackendMap: cfg.BackendMap,
		ProxyUser: cfg.ProxyUser, ProxyPassword: p.proxyPassword, BackendTLS: cfg.BackendTLS,
		TLS: p.tls, RequireTLS: cfg.RequireTLS, DefaultBackend: cfg.DefaultBackend,
		MaxConnsPerIP: cfg.MaxConnsPerIP, IdleTimeout: cfg.IdleTimeout, Logger: f.logger, Metrics: f.reg,
	})
	if err != nil {
		return nil, err
	}
	return f.listen("IMAP", srv, cfg.IMAPAddr, cfg.IMAPSAddr, "--imap-addr", "--imaps-addr")
}
