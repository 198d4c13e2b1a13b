package mupdatecompat

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/roost-mail/roost/raftfsm"
)

// Role is what an authenticated MUPDATE identity may do.
type Role uint8

const (
	// RoleFrontend reads: FIND, LIST, UPDATE, NOOP.
	RoleFrontend Role = iota + 1
	// RoleBackend also writes entries located on its own server.
	RoleBackend
	// RoleAdmin reads and writes everything.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleFrontend:
		return "frontend"
	case RoleBackend:
		return "backend"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

func parseRole(s string) (Role, bool) {
	for _, r := range []Role{RoleFrontend, RoleBackend, RoleAdmin} {
		if s == r.String() {
			return r, true
		}
	}
	return 0, false
}

// Identity is what an authenticated MUPDATE user is allowed.
type Identity struct {
	Name string
	Role Role
	// servers a backend identity may write entries for: its own name
	// unless the users file lists them.
	servers []string
	// anyServer lets a backend identity write entries for every server.
	anyServer bool
}

// MayWrite reports whether the identity may write an entry located on
// server. Admins write everywhere, frontends nowhere. A backend writes
// for its own server, which is its name unless the users file lists its
// servers: Cyrus backends often share one mupdate_authname, and a
// server's name need not be its login.
func (id Identity) MayWrite(server string) bool {
	switch id.Role {
	case RoleAdmin:
		return true
	case RoleBackend:
		return id.anyServer || slices.Contains(id.servers, server)
	}
	return false
}

// parseIdentity parses the role field: admin, frontend, backend, or
// backend=SERVER[,SERVER...] or backend=* to widen what a backend may
// write.
func parseIdentity(name, field string) (Identity, error) {
	roleName, servers, widened := strings.Cut(field, "=")
	role, ok := parseRole(roleName)
	if !ok {
		return Identity{}, fmt.Errorf("role %q is not admin, backend or frontend", roleName)
	}
	id := Identity{Name: name, Role: role}
	if !widened {
		if role == RoleBackend {
			id.servers = []string{name}
		}
		return id, nil
	}
	if role != RoleBackend {
		return Identity{}, fmt.Errorf("role %q takes no server list; only backend does", roleName)
	}
	if servers == "*" {
		id.anyServer = true
		return id, nil
	}
	for srv := range strings.SplitSeq(servers, ",") {
		if srv == "" || strings.ContainsAny(srv, "!* \t") {
			return Identity{}, fmt.Errorf("backend server list %q: want SERVER[,SERVER...] or *", servers)
		}
		id.servers = append(id.servers, srv)
	}
	// Writes go out confined to these servers (raftfsm.Op.OnlyOn).
	if len(id.servers) > raftfsm.MaxOnlyOn {
		return Identity{}, fmt.Errorf("backend server list names %d servers, more than %d: use backend=*", len(id.servers), raftfsm.MaxOnlyOn)
	}
	return id, nil
}

// Password schemes of the users file, as Dovecot and Cyrus operators
// write them.
const (
	SchemePlain    = "PLAIN"
	SchemeBlfCrypt = "BLF-CRYPT"
)

type user struct {
	scheme string
	secret []byte // the password (PLAIN) or the bcrypt hash
	id     Identity
}

// maxCached bounds the verified-credential cache.
const maxCached = 10_000

// Users is a set of MUPDATE identities read from a users file, one per
// line: `name:{SCHEME}secret:role`, where SCHEME is PLAIN or BLF-CRYPT
// and role is admin, backend or frontend. A backend writes only entries
// located on the server of its own name unless the role lists the
// servers it may write for, `backend=SERVER[,SERVER...]`, or `backend=*`.
// Blank lines and lines starting with # are ignored. Safe for concurrent
// use.
//
// Verifying a bcrypt hash costs tens of milliseconds, and Cyrus backends
// authenticate on a new connection for every mailbox operation, so
// successful verifications are remembered under an HMAC of the name and
// password with a key that never leaves the process: the cache holds no
// password and no hash that could be attacked offline.
type Users struct {
	users map[string]user // immutable
	key   []byte          // immutable

	mu       sync.Mutex
	verified map[[sha256.Size]byte]struct{} // protected by mu
}

// ParseUsers reads a users file.
func ParseUsers(r io.Reader) (*Users, error) {
	u := &Users{users: map[string]user{}, verified: map[[sha256.Size]byte]struct{}{}, key: make([]byte, 32)}
	rand.Read(u.key)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, us, err := parseUser(line)
		if err != nil {
			return nil, fmt.Errorf("users file line %d: %w", n, err)
		}
		if _, dup := u.users[name]; dup {
			return nil, fmt.Errorf("users file line %d: %q listed twice", n, name)
		}
		u.users[name] = us
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	return u, nil
}

// LoadUsers reads the users file at path.
func LoadUsers(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseUsers(f)
}

// parseUser parses `name:{SCHEME}secret:role`; the secret may hold ':'.
func parseUser(line string) (string, user, error) {
	first, last := strings.IndexByte(line, ':'), strings.LastIndexByte(line, ':')
	if first <= 0 || first == last {
		return "", user{}, fmt.Errorf("want name:{SCHEME}secret:role")
	}
	name, cred, roleField := line[:first], line[first+1:last], line[last+1:]
	id, err := parseIdentity(name, roleField)
	if err != nil {
		return "", user{}, err
	}
	end := strings.IndexByte(cred, '}')
	if !strings.HasPrefix(cred, "{") || end < 0 {
		return "", user{}, fmt.Errorf("secret of %q has no {SCHEME} prefix", name)
	}
	scheme, secret := cred[1:end], cred[end+1:]
	switch scheme {
	case SchemePlain:
	case SchemeBlfCrypt:
		if _, err := bcrypt.Cost([]byte(secret)); err != nil {
			return "", user{}, fmt.Errorf("secret of %q is not a bcrypt hash: %v", name, err)
		}
	default:
		return "", user{}, fmt.Errorf("scheme %q of %q is not PLAIN or BLF-CRYPT", scheme, name)
	}
	return name, user{scheme: scheme, secret: []byte(secret), id: id}, nil
}

// Verify checks a name and password and returns what the identity may do.
func (u *Users) Verify(name, password string) (Identity, bool) {
	us, ok := u.users[name]
	if !ok {
		// Spend about as long as a real check, so names cannot be
		// probed by timing.
		bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return Identity{}, false
	}
	if us.scheme == SchemePlain {
		if subtle.ConstantTimeCompare(us.secret, []byte(password)) != 1 {
			return Identity{}, false
		}
		return us.id, true
	}
	mac := hmac.New(sha256.New, u.key)
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var k [sha256.Size]byte
	copy(k[:], mac.Sum(nil))
	u.mu.Lock()
	_, hit := u.verified[k]
	u.mu.Unlock()
	if hit {
		return us.id, true
	}
	if bcrypt.CompareHashAndPassword(us.secret, []byte(password)) != nil {
		return Identity{}, false
	}
	u.mu.Lock()
	if len(u.verified) >= maxCached {
		clear(u.verified) // rare; the next logins re-verify
	}
	u.verified[k] = struct{}{}
	u.mu.Unlock()
	return us.id, true
}

// dummyHash is verified against for unknown names.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("roost"), bcrypt.DefaultCost)
	return h
})

// HashPassword returns a users-file secret for password: {BLF-CRYPT} and
// a bcrypt hash.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return "{" + SchemeBlfCrypt + "}" + string(h), nil
}
