package frontend

import "github.com/roost-mail/roost/frontend/pop3proxy"

// POP3Addr returns the address the POP3 listener is bound to, or "".
func (f *Frontend) POP3Addr() string { return f.pop3.addr(false) }

// POP3SAddr returns the address the implicit-TLS POP3 listener is bound
// to, or "".
func (f *Frontend) POP3SAddr() string { return f.pop3.addr(true) }

func (f *Frontend) startPOP3(p *proxyInputs) (*listeners, error) {
	cfg := f.cfg
	srv, err := pop3proxy.New(pop3proxy.Config{Locator: p.locator, Namespace: p.ns, BackendMap: cfg.BackendMap,
		TLS: p.tls, RequireTLS: cfg.RequireTLS, MaxConnsPerIP: cfg.MaxConnsPerIP, Logger: f.logger, Metrics: f.reg})
	if err != nil {
		return nil, err
	}
	return f.listen("POP3", srv, cfg.POP3Addr, cfg.POP3SAddr, "--pop3-addr", "--pop3s-addr")
}
