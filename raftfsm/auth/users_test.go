package auth

import (
	"strings"
	"testing"
)

func TestParseUsers(t *testing.T) {
	hash, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	file := "# roost users\n\nadmin:{PLAIN}pa:ss:word:admin\nbe1:" + hash + ":backend\nfe1:{PLAIN}x:frontend\n"
	u, err := ParseUsers(strings.NewReader(file))
	if err != nil {
		t.Fatalf("ParseUsers: %v", err)
	}
	tests := []struct {
		name, password string
		role           Role
		ok             bool
	}{
		{"admin", "pa:ss:word", RoleAdmin, true},
		{"admin", "pa:ss", 0, false},
		{"be1", "s3cret", RoleBackend, true},
		{"be1", "s3cret", RoleBackend, true}, // from the cache
		{"be1", "S3cret", 0, false},
		{"fe1", "x", RoleFrontend, true},
		{"nobody", "x", 0, false},
	}
	for _, tt := range tests {
		id, ok := u.Verify(tt.name, tt.password)
		if ok != tt.ok || (ok && id.Role != tt.role) {
			t.Errorf("Verify(%q, %q) = %v, %v, want %v, %v", tt.name, tt.password, id.Role, ok, tt.role, tt.ok)
		}
	}
	if n := len(u.verified); n != 1 {
		t.Errorf("cache holds %d entries, want 1 (only bcrypt successes)", n)
	}
}

func TestParseUsersErrors(t *testing.T) {
	for _, line := range []string{
		"admin",
		"admin:{PLAIN}x",
		"admin:{PLAIN}x:root",
		"admin:x:admin",
		"admin:{MD5}x:admin",
		"admin:{BLF-CRYPT}nothash:admin",
		"admin:{PLAIN}x:admin=be1",
		"fe:{PLAIN}x:frontend=*",
		"be:{PLAIN}x:backend=",
		"be:{PLAIN}x:backend=be1,,be2",
		"be:{PLAIN}x:backend=be1!default",
		"be:{PLAIN}x:backend=be*",
		":{PLAIN}x:admin",
		"a:{PLAIN}x:admin\na:{PLAIN}y:admin",
	} {
		if _, err := ParseUsers(strings.NewReader(line)); err == nil {
			t.Errorf("ParseUsers(%q) succeeded, want an error", line)
		}
	}
}

// TestMayWrite: a backend writes for the server of its own name unless
// the users file lists its servers.
func TestMayWrite(t *testing.T) {
	file := "admin:{PLAIN}a:admin\nbe1:{PLAIN}b:backend\nmupdate:{PLAIN}c:backend=be1,be2\nall:{PLAIN}d:backend=*\nfe1:{PLAIN}e:frontend\n"
	u, err := ParseUsers(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, password, server string
		want                   bool
	}{
		{"admin", "a", "anything", true},
		{"be1", "b", "be1", true},
		{"be1", "b", "be2", false},
		{"mupdate", "c", "be1", true},
		{"mupdate", "c", "be2", true},
		{"mupdate", "c", "be3", false},
		{"mupdate", "c", "mupdate", false},
		{"all", "d", "be9", true},
		{"fe1", "e", "fe1", false},
	}
	for _, tt := range tests {
		id, ok := u.Verify(tt.name, tt.password)
		if !ok {
			t.Fatalf("Verify(%q) failed", tt.name)
		}
		if got := id.MayWrite(tt.server); got != tt.want {
			t.Errorf("%s.MayWrite(%q) = %v, want %v", tt.name, tt.server, got, tt.want)
		}
	}
}

// TestParseUsersKeepsSecrets checks that a malformed line's error never
// quotes what may be part of a password.
func TestParseUsersKeepsSecrets(t *testing.T) {
	for _, line := range []string{
		"alice:{PLAIN}pa:ssw0rdtail",          // no role: the password's end is the last field
		"alice:{PLAIN}pa:backend=ssw0rdtail!", // a "server list" out of the password
		"alice:{BLF-CRYPT}ssw0rdtail:admin",   // a password where a hash belongs
	} {
		_, err := ParseUsers(strings.NewReader(line))
		if err == nil {
			t.Fatalf("ParseUsers(%q) succeeded", line)
		}
		if strings.Contains(err.Error(), "ssw0rd") || strings.Contains(err.Error(), "'s'") {
			t.Errorf("ParseUsers(%q) = %q, which quotes the secret", line, err)
		}
	}
}
