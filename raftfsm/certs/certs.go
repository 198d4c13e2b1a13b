// Package certs holds a node's TLS material (its certificate and key and
// the cluster's CA, from PEM files), reads it again when it changes
// without dropping connections made with the old one, and makes the TLS
// configurations of each side: the gRPC server, a node dialling another
// (forwarding, joining), and the Raft transport, where both ends must
// present a node certificate signed by the CA.
//
// Every configuration it returns reads the current material at each
// handshake, so a rotation applies to new connections at once and never
// to established ones.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/roost-mail/roost/raftfsm/auth"
	"github.com/roost-mail/roost/raftfsm/internal/filestamp"
	"google.golang.org/grpc/credentials"
)

// Files names the PEM files of a node's TLS material. CA may be empty
// for a server that verifies no one (MUPDATE's own certificate).
type Files struct {
	Cert, Key, CA string
	// Role, if not zero, is the role the certificate must name
	// (auth.FromCertificate): a node's own is auth.RoleNode.
	Role auth.Role
}

// material is one version of the files, parsed and checked.
type material struct {
	cert   tls.Certificate
	leaf   *x509.Certificate
	pool   *x509.CertPool // nil without a CA
	serial string
}

// Material is a node's TLS material, reloadable. Safe for concurrent use.
type Material struct {
	files    Files               // immutable
	versions *filestamp.Versions // immutable
	cur      atomic.Pointer[material]
}

// Load reads and checks the files.
func Load(files Files) (*Material, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, errors.New("certs: a certificate and its key are both needed")
	}
	m := &Material{files: files, versions: filestamp.NewVersions(files.Cert, files.Key, files.CA)}
	if _, err := m.Reload(true); err != nil {
		return nil, err
	}
	return m, nil
}

// Reload reads the files again if they have changed since they were last
// loaded, or always with force, and reports whether it took a new
// version. Files that cannot be read, do not parse, or whose certificate
// does not match its key or is not signed by the CA are refused with an
// error, and the material loaded before stays in use.
func (m *Material) Reload(force bool) (bool, error) {
	return m.versions.Reload(force, func() error {
		mat, err := load(m.files)
		if err != nil {
			return err
		}
		m.cur.Store(mat)
		return nil
	})
}

func load(files Files) (*material, error) {
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		return nil, fmt.Errorf("certs: %s, %s: %w", files.Cert, files.Key, err)
	}
	leaf := cert.Leaf // parsed by LoadX509KeyPair since Go 1.23
	mat := &material{cert: cert, leaf: leaf, serial: leaf.SerialNumber.Text(16)}
	if files.Role != 0 {
		id, err := auth.FromCertificate(leaf)
		if err != nil {
			return nil, fmt.Errorf("certs: %s: %w", files.Cert, err)
		}
		if id.Role != files.Role {
			return nil, fmt.Errorf("certs: %s names role %s, want OU=%s", files.Cert, id.Role, files.Role)
		}
	}
	if files.CA == "" {
		return mat, nil
	}
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	mat.pool = x509.NewCertPool()
	if !mat.pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("certs: %s holds no PEM certificate", files.CA)
	}
	// A node whose own certificate its CA does not sign could reach no
	// one, and no one it: refuse it here, where the error is plain.
	inter := x509.NewCertPool()
	for _, der := range cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: mat.pool, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("certs: %s is not signed by the CA in %s: %w", files.Cert, files.CA, err)
	}
	return mat, nil
}

// Serial returns the serial number, in hex, of the certificate in use.
func (m *Material) Serial() string { return m.cur.Load().serial }

func (m *Material) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return &m.cur.Load().cert, nil
}

func (m *Material) getClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return &m.cur.Load().cert, nil
}

// ServerConfig is the configuration of a listener that presents the
// node's certificate. clientAuth says what it asks of clients; their
// certificates are verified against the CA in use at the handshake.
func (m *Material) ServerConfig(clientAuth tls.ClientAuthType) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: m.getCertificate}
	if clientAuth == tls.NoClientCert {
		return base
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return m.serverConfig(clientAuth), nil
	}
	return base
}

// serverConfig is ServerConfig's material at this moment.
func (m *Material) serverConfig(clientAuth tls.ClientAuthType) *tls.Config {
	cur := m.cur.Load()
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cur.cert},
		ClientAuth: clientAuth, ClientCAs: cur.pool}
}

// ClientConfig is the configuration of one connection a node dials to
// serverName, another node: it presents the node's certificate and
// verifies the server's against the CA and the name, and that it names
// the node role, so that no other holder of a certificate from the CA
// can pose as a node. Each connection takes a new one, which holds the
// material in use when it was made.
func (m *Material) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName,
		GetClientCertificate: m.getClientCertificate, RootCAs: m.cur.Load().pool,
		VerifyConnection: RequireNode}
}

// PeerConfigs are the two sides of the Raft transport: both present the
// node's certificate and accept only peers whose verified certificate
// names the node role. A connection without one never reaches Raft.
func (m *Material) PeerConfigs() (server *tls.Config, dial func(serverName string) *tls.Config) {
	server = m.ServerConfig(tls.RequireAndVerifyClientCert)
	inner := server.GetConfigForClient
	server.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := inner(hello)
		if err != nil {
			return nil, err
		}
		c.VerifyConnection = RequireNode
		return c, nil
	}
	return server, m.ClientConfig
}

// RequireNode is a tls.Config.VerifyConnection that accepts only a peer
// whose verified certificate names the node role.
func RequireNode(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("certs: the peer presented no certificate")
	}
	id, err := auth.FromCertificate(cs.PeerCertificates[0])
	if err != nil {
		return fmt.Errorf("certs: peer: %w", err)
	}
	if id.Role != auth.RoleNode {
		return fmt.Errorf("certs: peer %q has role %s, not node", id.Name, id.Role)
	}
	return nil
}

// ServerCredentials are a gRPC server's TLS, asking clientAuth of
// clients, with the material in use at each handshake.
func (m *Material) ServerCredentials(clientAuth tls.ClientAuthType) credentials.TransportCredentials {
	return &grpcCreds{TransportCredentials: credentials.NewTLS(nil), server: func() *tls.Config { return m.serverConfig(clientAuth) }}
}

// ClientCredentials are a gRPC client's TLS: the node's certificate, and
// the server's verified against the CA and the name dialled, with the
// material in use at each handshake.
func (m *Material) ClientCredentials() credentials.TransportCredentials {
	return &grpcCreds{TransportCredentials: credentials.NewTLS(nil), client: func() *tls.Config { return m.ClientConfig("") }}
}

// grpcCreds hands each handshake to gRPC's own TLS credentials, made
// afresh from the current material; gRPC sets the server name from the
// target and negotiates h2.
type grpcCreds struct {
	credentials.TransportCredentials // Info, and the methods below
	server, client                   func() *tls.Config
}

func (c *grpcCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.client == nil {
		return nil, nil, errors.New("certs: server credentials used to dial")
	}
	return credentials.NewTLS(c.client()).ClientHandshake(ctx, authority, conn)
}

func (c *grpcCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if c.server == nil {
		return nil, nil, errors.New("certs: client credentials used to serve")
	}
	return credentials.NewTLS(c.server()).ServerHandshake(conn)
}

func (c *grpcCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

// IsLoopback reports whether a listen address binds loopback only: an IP
// in 127.0.0.0/8 or ::1, or a name (localhost) all of whose addresses are
// loopback ones, since a listener binds what the name resolves to. An
// empty host binds every interface. Roost's listeners serve plaintext
// only where this holds.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
