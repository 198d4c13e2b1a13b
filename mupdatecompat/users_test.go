package mupdatecompat

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
		role, ok := u.Verify(tt.name, tt.password)
		if ok != tt.ok || (ok && role != tt.role) {
			t.Errorf("Verify(%q, %q) = %v, %v, want %v, %v", tt.name, tt.password, role, ok, tt.role, tt.ok)
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
		":{PLAIN}x:admin",
		"a:{PLAIN}x:admin\na:{PLAIN}y:admin",
	} {
		if _, err := ParseUsers(strings.NewReader(line)); err == nil {
			t.Errorf("ParseUsers(%q) succeeded, want an error", line)
		}
	}
}
