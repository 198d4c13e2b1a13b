package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/certs"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultReloadInterval is how often a node looks at its certificate,
// key, CA and users files for changes, between SIGHUPs.
const DefaultReloadInterval = 10 * time.Second

// secure loads the node's TLS material, or warns of --insecure (Check
// has refused a plaintext listener beyond loopback without it).
func (n *Node) secure() error {
	c := n.cfg
	if c.TLSCert == "" { // Check has made sure of all three or none
		if c.Insecure && (!certs.IsLoopback(c.GRPCAddr) || !certs.IsLoopback(c.RaftAddr)) {
			n.logger.Warn("--insecure: gRPC and Raft accept anyone who reaches them, in plaintext, as an admin",
				"grpc_addr", c.GRPCAddr, "raft_addr", c.RaftAddr)
		}
		return nil
	}
	m, err := certs.Load(certs.Files{Cert: c.TLSCert, Key: c.TLSKey, CA: c.TLSCA, Role: auth.RoleNode})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.tls = m
	return nil
}

// openUsers reads the users file, creating the data directory's on first
// start. It runs once the store holds the directory's lock, so that a
// second process on the directory never writes there.
func (n *Node) openUsers() error {
	c := n.cfg
	path := c.UsersFile
	if path == "" {
		path = filepath.Join(c.DataDir, defaultUsersFile)
		if err := n.ensureUsers(path); err != nil {
			return err
		}
	}
	u, err := auth.OpenUsersFile(path)
	if err != nil {
		return fmt.Errorf("node: users file: %w", err)
	}
	n.users = u
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// plaintextAllowed refuses gRPC and Raft listeners beyond loopback without
// TLS, unless Insecure.
func plaintextAllowed(c Config) error {
	if c.Insecure {
		return nil
	}
	for _, l := range []struct{ flag, addr string }{{"--grpc-addr", c.GRPCAddr}, {"--raft-addr", c.RaftAddr}} {
		if !certs.IsLoopback(l.addr) {
			return fmt.Errorf("node: %s %s is beyond loopback, and without TLS anyone who reaches it could rewrite the cluster: "+
				"give --tls-cert, --tls-key and --tls-ca, or --insecure to serve it in plaintext anyway", l.flag, l.addr)
		}
	}
	return nil
}

// grpcServerOptions are the gRPC server's TLS and the interceptors that
// authenticate and authorize every call.
func (n *Node) grpcServerOptions() []grpc.ServerOption {
	a := &grpcserver.Authenticator{TLS: n.tls != nil, Users: n.users}
	opts := a.ServerOptions()
	if n.tls != nil {
		// A client certificate is optional: a caller may give a user
		// name and password instead.
		opts = append(opts, grpc.Creds(n.tls.ServerCredentials(tls.VerifyClientCertIfGiven)))
	}
	return opts
}

// dialOptions are how this node dials another: with its own certificate
// over TLS, or in plaintext.
func (n *Node) dialOptions() []grpc.DialOption {
	if n.tls != nil {
		return []grpc.DialOption{grpc.WithTransportCredentials(n.tls.ClientCredentials())}
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
}

// raftTLS is the Raft transport's TLS, or nil in plaintext.
func (n *Node) raftTLS() *raftfsm.RaftTLS {
	if n.tls == nil {
		return nil
	}
	server, dial := n.tls.PeerConfigs()
	return &raftfsm.RaftTLS{Server: server, Dial: dial}
}

// Reload reads the node's certificate, key, CA, MUPDATE certificate and
// users file again (roostd does on SIGHUP). New connections use what it
// read; established ones carry on. A file that does not load is refused
// with an error, in the log as well, and the old one stays in use.
func (n *Node) Reload() error { return n.reload(true) }

// reload reloads what has changed, or everything with force.
func (n *Node) reload(force bool) error {
	var errs []error
	if n.tls != nil {
		if changed, err := n.tls.Reload(force); err != nil {
			n.logger.Error("TLS certificate refused; keeping the one in use", "serial", n.tls.Serial(), "err", err)
			errs = append(errs, err)
		} else if changed {
			n.logger.Info("TLS certificate loaded", "serial", n.tls.Serial())
		}
	}
	if n.mupdateTLS != nil && n.mupdateTLS != n.tls {
		if changed, err := n.mupdateTLS.Reload(force); err != nil {
			n.logger.Error("MUPDATE TLS certificate refused; keeping the one in use", "serial", n.mupdateTLS.Serial(), "err", err)
			errs = append(errs, err)
		} else if changed {
			n.logger.Info("MUPDATE TLS certificate loaded", "serial", n.mupdateTLS.Serial())
		}
	}
	if n.users != nil {
		if changed, err := n.users.Reload(force); err != nil {
			n.logger.Error("users file refused; keeping the one in use", "err", err)
			errs = append(errs, err)
		} else if changed {
			n.logger.Info("users file loaded", "users_file", n.users.Path())
		}
	}
	return errors.Join(errs...)
}

// watchFiles reloads what has changed every interval.
func (n *Node) watchFiles(ctx context.Context, interval time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.reload(false)
		case <-ctx.Done():
			return
		}
	}
}

// Check reports what is wrong with c, touching nothing: roostd runs it
// before it writes anything into the data directory, and refuses what it
// finds as a usage error. Start runs it too.
func (c Config) Check() error {
	for _, a := range []struct {
		flag, addr string
		required   bool
	}{
		{"--raft-addr", c.RaftAddr, true}, {"--raft-advertise", c.RaftAdvertise, false},
		{"--grpc-addr", c.GRPCAddr, true}, {"--grpc-advertise", c.GRPCAdvertise, false},
		{"--http-addr", c.HTTPAddr, false}, {"--mupdate-addr", c.MupdateAddr, false},
		{"--mupdate-tls-addr", c.MupdateTLSAddr, false},
	} {
		if a.addr == "" && !a.required {
			continue
		}
		if err := checkAddr(a.addr); err != nil {
			return fmt.Errorf("%s %q: %w", a.flag, a.addr, err)
		}
	}
	for _, j := range c.Join {
		if err := checkAddr(j); err != nil {
			return fmt.Errorf("--join %q: %w", j, err)
		}
	}
	switch btoi(c.TLSCert != "") + btoi(c.TLSKey != "") + btoi(c.TLSCA != "") {
	case 0:
		if err := plaintextAllowed(c); err != nil {
			return err
		}
	case 3:
	default:
		return errors.New("TLS needs all of --tls-cert, --tls-key and --tls-ca")
	}
	if (c.MupdateTLSCert == "") != (c.MupdateTLSKey == "") {
		return errors.New("--mupdate-tls-cert and --mupdate-tls-key go together")
	}
	if (c.MupdateTLSAddr != "" || c.MupdateRequireTLS) && c.MupdateTLSCert == "" && c.TLSCert == "" {
		return errors.New("--mupdate-tls-addr and --mupdate-require-tls need a certificate: --mupdate-tls-cert and --mupdate-tls-key, or --tls-cert and --tls-key")
	}
	sc := c.Store
	sc.NodeID, sc.Dir, sc.RaftAddr, sc.RaftAdvertise = c.NodeID, c.DataDir, c.RaftAddr, c.RaftAdvertise
	return sc.Check()
}

// checkAddr checks a host:port a listener or a dialer takes.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}
