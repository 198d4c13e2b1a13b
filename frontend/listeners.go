package frontend

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
)

// proxy is what a client-facing protocol serves its sockets with.
type proxy interface {
	Serve(l net.Listener, implicitTLS bool) error
	Close() error
}

// listeners are one proxy and its sockets: plain (upgraded with STARTTLS
// or STLS) and TLS from the first byte.
type listeners struct {
	srv       proxy
	plain, tl net.Listener
}

func (l *listeners) close() {
	if l == nil {
		return
	}
	l.srv.Close()
	for _, x := range []net.Listener{l.plain, l.tl} {
		if x != nil {
			x.Close()
		}
	}
}

// addr is the address of the plain socket, or of the TLS one; "" when
// there is none.
func (l *listeners) addr(implicitTLS bool) string {
	if l == nil {
		return ""
	}
	x := l.plain
	if implicitTLS {
		x = l.tl
	}
	if x == nil {
		return ""
	}
	return x.Addr().String()
}

// listen binds the plain and TLS addresses a proxy serves (either may be
// empty: none) and serves them until Close.
func (f *Frontend) listen(name string, srv proxy, plain, tl, plainFlag, tlFlag string) (*listeners, error) {
	l := &listeners{srv: srv}
	for _, x := range []struct {
		addr, flag  string
		lis         *net.Listener
		implicitTLS bool
	}{{plain, plainFlag, &l.plain, false}, {tl, tlFlag, &l.tl, true}} {
		if x.addr == "" {
			continue
		}
		var err error
		if *x.lis, err = net.Listen("tcp", x.addr); err != nil {
			l.close()
			return nil, fmt.Errorf("frontend: %s: %w", x.flag, err)
		}
		f.wg.Add(1)
		go func(lis net.Listener, implicitTLS bool) {
			defer f.wg.Done()
			if err := srv.Serve(lis, implicitTLS); err != nil && !errors.Is(err, net.ErrClosed) {
				f.logger.Error(name+" listener stopped", "addr", lis.Addr().String(), "err", err)
			}
		}(*x.lis, x.implicitTLS)
	}
	return l, nil
}

// clientTLS is the TLS configuration of the client-facing listeners, nil
// without a certificate.
func (c *Config) clientTLS() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("frontend: --tls-cert: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}, nil
}
