package frontend

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/roost-mail/roost/frontend/lmtpproxy"
)

// lmtpListener is the LMTP proxy and its socket.
type lmtpListener struct {
	srv *lmtpproxy.Server
	l   net.Listener
}

func (l *lmtpListener) close() {
	if l.srv != nil {
		l.srv.Close()
	}
	if l.l != nil {
		l.l.Close()
	}
}

// LMTPAddr returns the address the LMTP listener is bound to, or "".
func (f *Frontend) LMTPAddr() string {
	if f.lmtp == nil || f.lmtp.l == nil {
		return ""
	}
	return f.lmtp.l.Addr().String()
}

// isSocketPath reports whether an --lmtp-addr names a Unix socket.
func isSocketPath(addr string) bool { return strings.Contains(addr, "/") }

func (f *Frontend) startLMTP(p *proxyInputs) (*lmtpListener, error) {
	cfg := f.cfg
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	srv, err := lmtpproxy.New(lmtpproxy.Config{
		Locator: p.locator, Namespace: p.ns, Recipients: cfg.Recipients,
		BackendMap: cfg.BackendMap, ProxyUser: cfg.ProxyUser, ProxyPassword: p.proxyPassword,
		MaxStaleness: cfg.MaxStaleness, IdleTimeout: cfg.LMTPIdleTimeout, SpoolDir: spool, Logger: f.logger, Metrics: f.reg,
	})
	if err != nil {
		return nil, err
	}
	l := &lmtpListener{srv: srv}
	if l.l, err = listenLMTP(cfg.LMTPAddr); err != nil {
		l.close()
		return nil, fmt.Errorf("frontend: --lmtp-addr: %w", err)
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if err := srv.Serve(l.l); err != nil && !errors.Is(err, net.ErrClosed) {
			f.logger.Error("LMTP listener stopped", "addr", cfg.LMTPAddr, "err", err)
		}
	}()
	return l, nil
}

// listenLMTP listens on TCP, or on a Unix socket that every local user
// may connect to, as to a loopback port (its directory's permissions are
// the operator's to set). A socket file left by a process that is gone is
// replaced; one that still answers is not.
func listenLMTP(addr string) (net.Listener, error) {
	if !isSocketPath(addr) {
		return net.Listen("tcp", addr)
	}
	if c, err := net.DialTimeout("unix", addr, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is already served by another process", addr)
	}
	if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(addr)
	}
	l, err := net.Listen("unix", addr)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(addr, 0o666); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
