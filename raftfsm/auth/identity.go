package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/roost-mail/roost/raftfsm"
)

// Role is what an authenticated identity may do, on MUPDATE and on gRPC.
type Role uint8

const (
	// RoleFrontend reads: lookups, listings and change streams.
	RoleFrontend Role = iota + 1
	// RoleBackend also writes entries located on its own servers.
	RoleBackend
	// RoleAdmin reads and writes everything, and runs the cluster:
	// membership, snapshots, restore.
	RoleAdmin
	// RoleNode is a cluster member: it may do what an admin may, and
	// speak Raft. Only certificates carry it, never the users file.
	RoleNode
)

func (r Role) String() string {
	switch r {
	case RoleFrontend:
		return "frontend"
	case RoleBackend:
		return "backend"
	case RoleAdmin:
		return "admin"
	case RoleNode:
		return "node"
	}
	return "none"
}

// ParseRole parses a role's name.
func ParseRole(s string) (Role, bool) {
	for _, r := range []Role{RoleFrontend, RoleBackend, RoleAdmin, RoleNode} {
		if s == r.String() {
			return r, true
		}
	}
	return 0, false
}

// Identity is who a caller is and what it may do. The zero Identity is
// no one.
type Identity struct {
	Name string
	Role Role
	// servers a backend identity may write entries for: its own name
	// unless the users file lists them.
	servers []string
	// anyServer lets a backend identity write entries for every server.
	anyServer bool
}

// Admin is the identity of a caller trusted without credentials: one on
// a node that serves plaintext on loopback, or the node itself.
var Admin = Identity{Name: "local", Role: RoleAdmin}

// MayWrite reports whether the identity may write an entry located on
// server. Admins and nodes write everywhere, frontends nowhere. A backend
// writes for its own server, which is its name unless the users file
// lists its servers: Cyrus backends often share one mupdate_authname, and
// a server's name need not be its login.
func (id Identity) MayWrite(server string) bool {
	switch id.Role {
	case RoleAdmin, RoleNode:
		return true
	case RoleBackend:
		return id.anyServer || slices.Contains(id.servers, server)
	}
	return false
}

// Refusals of Authorize.
var (
	ErrReadOnly      = errors.New("permission denied: this identity may only read")
	ErrAnotherServer = errors.New("permission denied: the mailbox is located on another server")
)

// Authorize checks that the identity may make the write op, against
// location, which returns where a name's entry is now ("" and false when
// there is none), and confines a backend's op to its servers.
//
// Admins and nodes write anything, backends only entries located on their
// servers (MayWrite), and frontends nothing. A backend may also change or
// delete an existing entry only if it is on one of its servers now, so it
// cannot move another server's mailbox to itself. RESERVE of a name held
// elsewhere is left to the state machine, which refuses it as Cyrus's
// master does.
//
// The entry's server is checked twice. Here, against the caller's copy
// of the database, for a quick answer; then op goes out confined to the
// backend's servers (raftfsm.Op.OnlyOn), so that the state machine checks
// again as it applies it: the copy may lag, and a move may commit between
// the two.
func (id Identity) Authorize(op *raftfsm.Op, location func(name string) (string, bool)) error {
	switch id.Role {
	case RoleAdmin, RoleNode:
		return nil
	case RoleBackend:
	default:
		return ErrReadOnly
	}
	mayWrite := func(loc string) bool {
		server, _, _ := strings.Cut(loc, "!")
		return id.MayWrite(server)
	}
	if op.Kind != raftfsm.OpDelete && !mayWrite(op.Location) {
		return ErrAnotherServer
	}
	if op.Kind != raftfsm.OpReserve {
		if loc, ok := location(op.Name); ok && !mayWrite(loc) {
			return ErrAnotherServer
		}
	}
	if !id.anyServer {
		op.OnlyOn = id.servers
	}
	return nil
}

// parseIdentity parses the role field of the users file: admin, frontend,
// backend, or backend=SERVER[,SERVER...] or backend=* to widen what a
// backend may write.
func parseIdentity(name, field string) (Identity, error) {
	roleName, servers, widened := strings.Cut(field, "=")
	role, ok := ParseRole(roleName)
	if !ok || role == RoleNode {
		return Identity{}, fmt.Errorf("user %q: the last field is not a role: want admin, frontend, backend, backend=SERVER[,SERVER...] or backend=*", name)
	}
	id := Identity{Name: name, Role: role}
	if !widened {
		if role == RoleBackend {
			id.servers = []string{name}
		}
		return id, nil
	}
	if role != RoleBackend {
		return Identity{}, fmt.Errorf("user %q: role %s takes no server list; only backend does", name, role)
	}
	if servers == "*" {
		id.anyServer = true
		return id, nil
	}
	for srv := range strings.SplitSeq(servers, ",") {
		if srv == "" || strings.ContainsAny(srv, "!* \t") {
			return Identity{}, fmt.Errorf("user %q: the backend server list is not SERVER[,SERVER...] or *", name)
		}
		id.servers = append(id.servers, srv)
	}
	// Writes go out confined to these servers (raftfsm.Op.OnlyOn).
	if len(id.servers) > raftfsm.MaxOnlyOn {
		return Identity{}, fmt.Errorf("user %q: the backend server list names %d servers, more than %d: use backend=*", name, len(id.servers), raftfsm.MaxOnlyOn)
	}
	return id, nil
}

// FromCertificate is the identity a verified client certificate names:
// its subject's common name, with the role in its organizational unit
// (OU=admin, backend, frontend or node), as Kubernetes reads groups from
// a certificate's organization. A backend certificate's name is its
// server. The cluster's CA vouches for both, so it must be the cluster's
// own, not one that signs certificates for other purposes.
func FromCertificate(cert *x509.Certificate) (Identity, error) {
	name := cert.Subject.CommonName
	if name == "" {
		return Identity{}, errors.New("the certificate's subject has no common name")
	}
	var roles []Role
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r, ok := ParseRole(ou); ok {
			roles = append(roles, r)
		}
	}
	switch len(roles) {
	case 0:
		return Identity{}, fmt.Errorf("certificate %q names no role: want OU=admin, backend, frontend or node", name)
	case 1:
	default:
		return Identity{}, fmt.Errorf("certificate %q names %d roles, want one", name, len(roles))
	}
	id := Identity{Name: name, Role: roles[0]}
	if id.Role == RoleBackend {
		id.servers = []string{name}
	}
	return id, nil
}

type ctxKey struct{}

// NewContext returns ctx carrying id: the caller of a gRPC call.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity NewContext put into ctx.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
