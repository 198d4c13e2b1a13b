package node

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/mupdatecompat"
	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/certs"
)

// Files a node writes in its data directory when it is given no users
// file, so that MUPDATE is never open without authentication.
const (
	defaultUsersFile    = "mupdate-users"
	defaultPasswordFile = "mupdate-admin-password"
)

// startMUPDATE serves MUPDATE on cfg.MupdateAddr.
func (n *Node) startMUPDATE(reg prometheus.Registerer) error {
	var tlsConf *tls.Config
	switch {
	case n.cfg.MupdateTLSCert != "" || n.cfg.MupdateTLSKey != "":
		m, err := certs.Load(certs.Files{Cert: n.cfg.MupdateTLSCert, Key: n.cfg.MupdateTLSKey})
		if err != nil {
			return fmt.Errorf("node: MUPDATE TLS: %w", err)
		}
		n.mupdateTLS = m
	case n.tls != nil:
		n.mupdateTLS = n.tls
	}
	if n.mupdateTLS != nil {
		tlsConf = n.mupdateTLS.ServerConfig(tls.NoClientCert)
	}
	var err error
	if n.mupdateLis, err = net.Listen("tcp", n.cfg.MupdateAddr); err != nil {
		return fmt.Errorf("node: MUPDATE listener: %w", err)
	}
	n.mupdate = mupdatecompat.New(mupdatecompat.Config{
		FSM: n.store.FSM(), Cluster: n.fwd, Users: n.users, ServerName: n.cfg.NodeID, Logger: n.cfg.Logger,
		TLS: tlsConf, RequireTLS: n.cfg.MupdateRequireTLS, MaxConns: n.cfg.MupdateMaxConns,
		LinearizableReads: n.cfg.MupdateLinearizableReads, Metrics: newMupdateMetrics(reg),
	})
	n.serveMUPDATE(n.mupdate.Serve, n.mupdateLis)
	if n.cfg.MupdateTLSAddr != "" {
		l, err := net.Listen("tcp", n.cfg.MupdateTLSAddr)
		if err != nil {
			return fmt.Errorf("node: MUPDATE TLS listener: %w", err)
		}
		n.serveMUPDATE(n.mupdate.ServeTLS, l)
	}
	return nil
}

func (n *Node) serveMUPDATE(serve func(net.Listener) error, l net.Listener) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := serve(l); err != nil && !errors.Is(err, mupdatecompat.ErrServerClosed) {
			n.logger.Error("MUPDATE server stopped", "err", err)
		}
	}()
}

// ensureUsers creates the data directory's users file with a random
// admin password on first start.
func (n *Node) ensureUsers(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return n.createAdmin(path)
}

func (n *Node) createAdmin(usersPath string) error {
	raw := make([]byte, 18)
	rand.Read(raw)
	password := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	pwPath := filepath.Join(n.cfg.DataDir, defaultPasswordFile)
	if err := os.WriteFile(pwPath, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("node: write MUPDATE admin password: %w", err)
	}
	if err := os.WriteFile(usersPath, []byte("admin:"+hash+":admin\n"), 0o600); err != nil {
		return fmt.Errorf("node: write MUPDATE users: %w", err)
	}
	n.logger.Info("created a MUPDATE admin credential: user admin, password in "+pwPath, "users_file", usersPath)
	return nil
}
