package main

import (
	"context"
	"strings"
	"testing"

	"github.com/roost-mail/roost/raftfsm/auth"
)

// TestPasswd: the printed secret goes into a users file as it is and
// verifies the password.
func TestPasswd(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"passwd"}, strings.NewReader("s3cret\n"), &out, &errOut); err != nil {
		t.Fatalf("roostctl passwd: %v (%s)", err, errOut.String())
	}
	secret := strings.TrimSpace(out.String())
	u, err := auth.ParseUsers(strings.NewReader("be1:" + secret + ":backend\n"))
	if err != nil {
		t.Fatalf("ParseUsers(passwd output %q): %v", secret, err)
	}
	if id, ok := u.Verify("be1", "s3cret"); !ok || id.Role != auth.RoleBackend {
		t.Errorf("Verify(be1, s3cret) = %v, %v, want backend, true", id.Role, ok)
	}
	if err := run(context.Background(), []string{"passwd"}, strings.NewReader(""), &out, &errOut); err == nil {
		t.Error("roostctl passwd with no input succeeded")
	}
}
