package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/raftfsm"
)

func startNode(t *testing.T, id string, mupdate bool) *node.Node {
	t.Helper()
	dir := t.TempDir()
	cfg := node.Config{NodeID: id, DataDir: dir, RaftAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", Bootstrap: true,
		Store: raftfsm.Config{HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond}}
	if mupdate {
		users := filepath.Join(dir, "users")
		if err := os.WriteFile(users, []byte("admin:{PLAIN}pw:admin\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.MupdateAddr, cfg.UsersFile = "127.0.0.1:0", users
	}
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !n.Store().IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	return n
}

func listing(n *node.Node) []string {
	var out []string
	n.Store().FSM().View().List(raftfsm.ListOptions{}, func(m raftfsm.Mailbox) bool {
		out = append(out, fmt.Sprintf("%s %v %s %q", m.Name, m.State, m.Location, m.ACL))
		return true
	})
	return out
}

// TestImport copies a master's database over MUPDATE, entry for entry,
// in batches (more entries than one batch holds).
func TestImport(t *testing.T) {
	src, dst := startNode(t, "src", true), startNode(t, "dst", false)
	ops := []raftfsm.Op{{Kind: raftfsm.OpReserve, Name: "user.r", Location: "be2!"}}
	for i := range 2500 {
		ops = append(ops, raftfsm.Op{Kind: raftfsm.OpActivate, Name: fmt.Sprintf("example.com!user.u%04d", i),
			Location: fmt.Sprintf("be%d!default", i%3), ACL: fmt.Sprintf("u%04d\tlrswipkxtecdan\t", i)})
	}
	if _, err := src.Store().Apply(context.Background(), ops, true); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("pw\n"), 0o600)
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"--endpoints", dst.GRPCAddr(), "import", "--from", src.MupdateAddr(),
		"--from-user", "admin", "--from-password-file", pw}, strings.NewReader(""), &out, &errOut)
	if err != nil {
		t.Fatalf("roostctl import: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "imported 2501 of 2501") {
		t.Errorf("roostctl import printed %q", out.String())
	}
	a, b := listing(src), listing(dst)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("target differs from source: %d vs %d entries", len(b), len(a))
	}
	// A wrong password is refused.
	os.WriteFile(pw, []byte("nope\n"), 0o600)
	err = run(context.Background(), []string{"--endpoints", dst.GRPCAddr(), "import", "--from", src.MupdateAddr(),
		"--from-user", "admin", "--from-password-file", pw}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "authenticate") {
		t.Errorf("import with a wrong password: %v, want an authentication error", err)
	}
}
