package raftfsm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// RaftTLS is the TLS of the Raft transport (Config.RaftTLS). Both sides
// must verify the other, or anyone who reaches the port could send
// AppendEntries as if it led the cluster.
type RaftTLS struct {
	// Server is the configuration of connections the transport accepts.
	Server *tls.Config
	// Dial returns the configuration of a new connection to a peer
	// whose host is serverName.
	Dial func(serverName string) *tls.Config
}

// Raft transport settings: connections kept per peer, and how long an RPC
// may take to be written.
const (
	transportPool    = 5
	transportTimeout = 10 * time.Second
)

// transportConfig turns off hashicorp/raft's pipelined replication
// (MaxRPCsInFlight 1): its decoder and sender hand off over unbuffered
// channels with no way out once a reply with a newer term stops the
// decoder, which can stall replication to a follower and hang Shutdown
// for ever (hashicorp/raft#612). Replication then sends one AppendEntries
// at a time; the group commit already packs concurrent writes into each.
func transportConfig(logger hclog.Logger) *raft.NetworkTransportConfig {
	return &raft.NetworkTransportConfig{MaxPool: transportPool, Timeout: transportTimeout, Logger: logger, MaxRPCsInFlight: 1}
}

func newTransport(bind string, adv net.Addr, tc *RaftTLS, logger hclog.Logger) (*raft.NetworkTransport, error) {
	if tc == nil {
		return raft.NewTCPTransportWithConfig(bind, adv, transportConfig(logger))
	}
	if tc.Server == nil || tc.Dial == nil {
		return nil, errors.New("raftfsm: Raft TLS needs a server and a client configuration")
	}
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if adv == nil {
		adv = l.Addr()
	}
	if a, ok := adv.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		l.Close()
		return nil, fmt.Errorf("raftfsm: %v is not an address other nodes can dial", adv)
	}
	layer := &tlsLayer{Listener: l, server: tc.Server, adv: adv, dial: tc.Dial}
	cfg := transportConfig(logger)
	cfg.Stream = layer
	return raft.NewNetworkTransportWithConfig(cfg), nil
}

// tlsLayer is a raft.StreamLayer over TLS.
type tlsLayer struct {
	net.Listener // TCP
	server       *tls.Config
	adv          net.Addr
	dial         func(serverName string) *tls.Config
}

// Accept returns the next connection, whose handshake runs at its first
// read or write, on Raft's goroutine for it, so that a slow or silent
// client never holds up the accept loop; the handshake must end within
// transportTimeout.
func (l *tlsLayer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, l.server)}, nil
}

// serverConn bounds a TLS server connection's handshake in time.
type serverConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		c.Conn.SetDeadline(time.Now().Add(transportTimeout))
		c.err = c.Conn.Handshake()
		c.Conn.SetDeadline(time.Time{})
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (l *tlsLayer) Addr() net.Addr { return l.adv }

func (l *tlsLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	// The timeout covers the handshake as well as the connection.
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(address), l.dial(host))
}
