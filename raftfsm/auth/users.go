package auth

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"

	"github.com/roost-mail/roost/raftfsm/internal/filestamp"
)

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

// Users is a set of identities read from a users file, one per
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

// Verifier checks a name and a password: a Users or a UsersFile.
type Verifier interface {
	Verify(name, password string) (Identity, bool)
}

// UsersFile is a users file that is read again, while in use, when it
// changes: changing one password needs no restart. Safe for concurrent
// use.
type UsersFile struct {
	path     string              // immutable
	versions *filestamp.Versions // immutable
	users    atomic.Pointer[Users]
}

// OpenUsersFile reads the users file at path.
func OpenUsersFile(path string) (*UsersFile, error) {
	f := &UsersFile{path: path, versions: filestamp.NewVersions(path)}
	if _, err := f.Reload(true); err != nil {
		return nil, err
	}
	return f, nil
}

// Path returns the file's path.
func (f *UsersFile) Path() string { return f.path }

// Verify checks name and password against the file as last read.
func (f *UsersFile) Verify(name, password string) (Identity, bool) {
	return f.users.Load().Verify(name, password)
}

// Reload reads the file again if it has changed since it was last read,
// or always with force, and reports whether it took a new version. A
// file that cannot be read or parsed is refused with an error, and the
// one read before stays in use.
func (f *UsersFile) Reload(force bool) (bool, error) {
	return f.versions.Reload(force, func() error {
		u, err := LoadUsers(f.path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		f.users.Store(u)
		return nil
	})
}

// parseUser parses `name:{SCHEME}secret:role`; the secret may hold ':'.
// Its errors name the user and never quote the other fields: on a line
// whose role is missing, the last field is the end of the password.
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
			// Not the error's text: it quotes the secret.
			return "", user{}, fmt.Errorf("secret of %q is not a bcrypt hash", name)
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
		compareHash(dummyHash(), password)
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
	if compareHash(us.secret, password) != nil {
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

// bcryptSlots bounds the bcrypt checks under way, which only wrong or new
// passwords reach (the cache answers the rest): a caller sending wrong
// passwords as fast as it can then holds at most half the CPUs, and the
// node's Raft loop keeps the rest.
var bcryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

func compareHash(hash []byte, password string) error {
	bcryptSlots <- struct{}{}
	defer func() { <-bcryptSlots }()
	return bcrypt.CompareHashAndPassword(hash, []byte(password))
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
