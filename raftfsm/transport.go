package raftfsm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
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

func newTransport(bind string, adv net.Addr, tc *RaftTLS, logger hclog.Logger) (*raft.NetworkTransport, error) {
	if tc == nil {
		return raft.NewTCPTransportWithLogger(bind, adv, transportPool, transportTimeout, logger)
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
	layer := &tlsLayer{Listener: tls.NewListener(l, tc.Server), adv: adv, dial: tc.Dial}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: transportPool, Timeout: transportTimeout, Logger: logger,
	}), nil
}

// tlsLayer is a raft.StreamLayer over TLS.
type tlsLayer struct {
	net.Listener // a tls.Listener: the handshake happens on the first read
	adv          net.Addr
	dial         func(serverName string) *tls.Config
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
