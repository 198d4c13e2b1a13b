package frontend

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/imapproxy"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/raftfsm/client"
)

// imapListeners are the proxy and the sockets it serves.
type imapListeners struct {
	srv       *imapproxy.Server
	plain, tl net.Listener
}

func (l *imapListeners) close() {
	if l.srv != nil {
		l.srv.Close()
	}
	for _, x := range []net.Listener{l.plain, l.tl} {
		if x != nil {
			x.Close()
		}
	}
}

// IMAPAddr returns the address the IMAP listener is bound to.
func (f *Frontend) IMAPAddr() string {
	if f.imap == nil || f.imap.plain == nil {
		return ""
	}
	return f.imap.plain.Addr().String()
}

// IMAPSAddr returns the address the implicit-TLS listener is bound to.
func (f *Frontend) IMAPSAddr() string {
	if f.imap == nil || f.imap.tl == nil {
		return ""
	}
	return f.imap.tl.Addr().String()
}

func (f *Frontend) startIMAP() (*imapListeners, error) {
	cfg := f.cfg
	ns, err := namespace.New(&cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	var tlsConf *tls.Config
	if cfg.TLSCert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("frontend: --tls-cert: %w", err)
		}
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
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
	l := &imapListeners{srv: srv}
	if cfg.IMAPAddr != "" {
		if l.plain, err = net.Listen("tcp", cfg.IMAPAddr); err != nil {
			l.close()
			return nil, fmt.Errorf("frontend: --imap-addr: %w", err)
		}
		f.serve(srv, l.plain, false)
	}
	if cfg.IMAPSAddr != "" {
		if l.tl, err = net.Listen("tcp", cfg.IMAPSAddr); err != nil {
			l.close()
			return nil, fmt.Errorf("frontend: --imaps-addr: %w", err)
		}
		f.serve(srv, l.tl, true)
	}
	return l, nil
}

func (f *Frontend) serve(srv *imapproxy.Server, l net.Listener, implicitTLS bool) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := srv.Serve(l, implicitTLS); err != nil && !errors.Is(err, net.ErrClosed) {
			f.logger.Error("IMAP listener stopped", "addr", l.Addr().String(), "err", err)
		}
	}()
}
