package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/roost-mail/roost/raftfsm"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries built once for the end-to-end tests.
var bins struct {
	once             sync.Once
	roostd, roostctl string
	err              error
}

func buildBinaries(t testing.TB) (roostd, roostctl string) {
	t.Helper()
	bins.once.Do(func() {
		dir, err := os.MkdirTemp("", "roost-e2e-bin-")
		if err != nil {
			bins.err = err
			return
		}
		for _, b := range []string{"roostd", "roostctl", "roost-frontend"} {
			out, err := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, b), "../cmd/"+b).CombinedOutput()
			if err != nil {
				bins.err = fmt.Errorf("build %s: %v\n%s", b, err, out)
				return
			}
		}
		bins.roostd, bins.roostctl = filepath.Join(dir, "roostd"), filepath.Join(dir, "roostctl")
	})
	if bins.err != nil {
		t.Fatal(bins.err)
	}
	return bins.roostd, bins.roostctl
}

// buildFrontend returns the roost-frontend binary buildBinaries built.
func buildFrontend(t testing.TB) string {
	roostd, _ := buildBinaries(t)
	return filepath.Join(filepath.Dir(roostd), "roost-frontend")
}

// freePort returns a free loopback address below Linux's ephemeral port
// range (32768 and up). A node restarted on its old ports must find them
// free, and an ephemeral port may meanwhile serve as the source port of
// some outgoing connection. A port is handed out once per test binary: a
// port chosen but not yet bound (a Cyrus instance binds its three only
// when its master starts) is free to the next caller too.
func freePort(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if handedOut.ports[port] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			handedOut.ports[port] = true
			return addr
		}
	}
	t.Fatal("no free port")
	return ""
}

// handedOut are the ports freePort has returned in this test binary.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// proc is a roostd process.
type proc struct {
	id, dir, raft, grpc, http, mupdate string
	cmd                                *exec.Cmd
	log                                *bytes.Buffer
	// defaults runs the node on roostd's default Raft timings and
	// snapshot settings instead of the quick ones of tests.
	defaults bool
}

func (p *proc) start(t testing.TB, roostd string, extra ...string) {
	t.Helper()
	args := []string{"--node-id", p.id, "--data-dir", p.dir, "--raft-addr", p.raft,
		"--grpc-addr", p.grpc, "--http-addr", p.http, "--mupdate-addr", p.mupdate}
	if !p.defaults {
		args = append(args, "--raft-heartbeat-timeout", "300ms", "--raft-election-timeout", "300ms", "--raft-lease-timeout", "300ms",
			"--snapshot-threshold", "50", "--snapshot-interval", "200ms")
	}
	args = append(args, extra...)
	p.cmd = exec.Command(roostd, args...)
	p.log = &bytes.Buffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
}

func (p *proc) kill() {
	if p.cmd != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("%s exited with %v after SIGTERM; log:\n%s", p.id, err, p.log)
	}
}

func newProc(t testing.TB, id string) *proc {
	dir := t.TempDir()
	return &proc{id: id, dir: filepath.Join(dir, "data"), raft: freePort(t), grpc: freePort(t), http: freePort(t), mupdate: freePort(t)}
}

// ctl runs roostctl and returns its standard output.
func ctl(t *testing.T, roostctl string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(roostctl, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("roostctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func mustCtl(t *testing.T, roostctl string, args ...string) string {
	t.Helper()
	out, err := ctl(t, roostctl, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type statusJSON struct {
	NodeID    string `json:"node_id"`
	Role      string `json:"role"`
	LeaderID  string `json:"leader_id"`
	Revision  uint64 `json:"revision"`
	Mailboxes uint64 `json:"mailboxes"`
	Members   []struct {
		ID          string `json:"id"`
		GRPCAddress string `json:"grpc_address"`
		Voter       bool   `json:"voter"`
		LogFormat   uint32 `json:"log_format"`
	} `json:"members"`
}

func nodeStatus(t *testing.T, roostctl, endpoint string) (statusJSON, error) {
	var st statusJSON
	out, err := ctl(t, roostctl, "--endpoints", endpoint, "-o", "json", "cluster", "status")
	if err != nil {
		return st, err
	}
	err = json.Unmarshal([]byte(out), &st)
	return st, err
}

// membersOK checks the members (id → voter) and their registration,
// log format included.
func membersOK(st statusJSON, want map[string]bool) error {
	got := map[string]bool{}
	for _, m := range st.Members {
		if m.GRPCAddress == "" || m.LogFormat != raftfsm.LogFormat {
			return fmt.Errorf("%s not registered (log format %d)", m.ID, m.LogFormat)
		}
		got[m.ID] = m.Voter
	}
	if st.LeaderID == "" || fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("leader %q, members %v", st.LeaderID, got)
	}
	return nil
}

// TestRoostctlEndToEnd drives real roostd processes with roostctl only:
// a three-node cluster, every mailbox verb, a watcher, a leader killed
// with SIGKILL mid-stream, an operator-driven join and removal, and
// snapshot save and restore.
func TestRoostctlEndToEnd(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	p1, p2, p3 := newProc(t, "e1"), newProc(t, "e2"), newProc(t, "e3")
	p1.start(t, roostd)
	p2.start(t, roostd, "--join", p1.grpc)
	p3.start(t, roostd, "--join", p1.grpc+","+p2.grpc)
	procs := []*proc{p1, p2, p3}
	all := p1.grpc + "," + p2.grpc + "," + p3.grpc
	waitFor(t, "three members", 30*time.Second, func() error {
		st, err := nodeStatus(t, roostctl, p1.grpc)
		if err != nil {
			return err
		}
		return membersOK(st, map[string]bool{"e1": true, "e2": true, "e3": true})
	})

	// A watcher on e2 from the very start, printing JSON lines.
	watch := exec.Command(roostctl, "--endpoints", p2.grpc+","+p3.grpc, "-o", "json", "mailbox", "watch")
	wout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	watch.Stderr = os.Stderr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Kill(); watch.Wait() })
	lines := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(wout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	acl := "jane\tlrswipkxtecdan\t"
	for _, p := range procs {
		ep := "--endpoints=" + p.grpc
		name := "user.via-" + p.id
		mustCtl(t, roostctl, ep, "mailbox", "reserve", name, "be1!default")
		mustCtl(t, roostctl, ep, "mailbox", "activate", name, "be1!default", acl)
	}
	if _, err := ctl(t, roostctl, "--endpoints", all, "mailbox", "reserve", "user.via-e1", "be2!x"); err == nil ||
		!strings.Contains(err.Error(), "already exists") {
		t.Errorf("reserve at another location: err = %v, want already exists", err)
	}
	if _, err := ctl(t, roostctl, "--endpoints", all, "mailbox", "deactivate", "user.nobody", "be1!"); err == nil ||
		!strings.Contains(err.Error(), "not found") {
		t.Errorf("deactivate unknown: err = %v, want not found", err)
	}
	mustCtl(t, roostctl, "--endpoints", all, "mailbox", "deactivate", "user.via-e2", "be1!default")
	mustCtl(t, roostctl, "--endpoints", all, "mailbox", "delete", "user.via-e3")
	mustCtl(t, roostctl, "--endpoints", all, "mailbox", "delete", "user.never-existed")

	var got struct {
		Mailbox struct {
			Name, State, Location, ACL string
		}
	}
	out := mustCtl(t, roostctl, "--endpoints", p3.grpc, "-o", "json", "mailbox", "get", "--consistent", "user.via-e1")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Mailbox.State != "ACTIVE" || got.Mailbox.Location != "be1!default" || got.Mailbox.ACL != acl {
		t.Errorf("mailbox get = %+v, want ACTIVE at be1!default with ACL %q", got.Mailbox, acl)
	}
	out = mustCtl(t, roostctl, "--endpoints", p3.grpc, "-o", "json", "mailbox", "list", "--consistent", "user.*")
	var list struct {
		Mailboxes []struct{ Name, State string }
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(list.Mailboxes) != "[{user.via-e1 ACTIVE} {user.via-e2 RESERVED}]" {
		t.Errorf("mailbox list = %v", list.Mailboxes)
	}

	// A write through one node, then at once a read with no flags through
	// another, each in a process of its own: the read shows the write.
	for i := range 10 {
		w, r := procs[i%3], procs[(i+1)%3]
		name := fmt.Sprintf("user.ryw%02d", i)
		mustCtl(t, roostctl, "--endpoints", w.grpc, "mailbox", "activate", name, "be3!default")
		out := mustCtl(t, roostctl, "--endpoints", r.grpc, "-o", "json", "mailbox", "get", name)
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Mailbox.State != "ACTIVE" {
			t.Errorf("mailbox get %s through %s right after activate through %s = %s, %v; want ACTIVE", name, r.id, w.id, out, err)
		}
		mustCtl(t, roostctl, "--endpoints", w.grpc, "mailbox", "delete", name)
		if out, err := ctl(t, roostctl, "--endpoints", r.grpc, "mailbox", "get", name); err == nil {
			t.Errorf("mailbox get %s through %s right after delete through %s = %s, want not found", name, r.id, w.id, out)
		}
	}
	if out, err := ctl(t, roostctl, "--endpoints", p3.grpc, "mailbox", "get", "--local", "user.via-e1"); err != nil || !strings.Contains(out, "ACTIVE") {
		t.Errorf("mailbox get --local = %q, %v; want the entry", out, err)
	}

	// Kill the leader outright while writes go on through the others.
	st, err := nodeStatus(t, roostctl, p1.grpc)
	if err != nil {
		t.Fatal(err)
	}
	var leader *proc
	var others []string
	for _, p := range procs {
		if p.id == st.LeaderID {
			leader = p
		} else {
			others = append(others, p.grpc)
		}
	}
	acked := 0
	for i := range 30 {
		if i == 10 {
			leader.cmd.Process.Signal(syscall.SIGKILL)
			leader.cmd.Wait()
		}
		_, err := ctl(t, roostctl, "--endpoints", strings.Join(others, ","), "mailbox", "activate",
			fmt.Sprintf("user.crash%02d", i), "be3!default")
		if err == nil {
			acked++
		} else {
			t.Logf("write %d: %v", i, err)
		}
	}
	// Writes are sequential and none was in flight at the kill: a
	// follower waits for the next leader, so every one must succeed.
	if acked != 30 {
		t.Errorf("%d of 30 writes acknowledged across the leader crash, want all", acked)
	}
	leader.start(t, roostd) // same data directory: it catches up
	waitFor(t, "the old leader to catch up", 30*time.Second, func() error {
		a, err := nodeStatus(t, roostctl, leader.grpc)
		if err != nil {
			return err
		}
		b, err := nodeStatus(t, roostctl, others[0])
		if err != nil {
			return err
		}
		if a.Revision != b.Revision || a.Mailboxes != b.Mailboxes {
			return fmt.Errorf("%s at %d/%d, %s at %d/%d", leader.id, a.Revision, a.Mailboxes, others[0], b.Revision, b.Mailboxes)
		}
		return nil
	})

	out = mustCtl(t, roostctl, "--endpoints", leader.grpc, "-o", "json", "mailbox", "list", "user.crash*")
	var crashed struct{ Mailboxes []struct{ Name string } }
	if err := json.Unmarshal([]byte(out), &crashed); err != nil {
		t.Fatal(err)
	}
	if len(crashed.Mailboxes) != acked {
		t.Errorf("restarted %s lists %d crash writes, want %d", leader.id, len(crashed.Mailboxes), acked)
	}

	// An operator adds a node without a vote, promotes it, and removes one.
	p4 := newProc(t, "e4")
	p4.start(t, roostd, "--bootstrap=false")
	mustCtl(t, roostctl, "--endpoints", all, "cluster", "join", "e4", p4.raft, "--nonvoter")
	waitFor(t, "e4 as a non-voter", 30*time.Second, func() error {
		st, err := nodeStatus(t, roostctl, p4.grpc)
		if err != nil {
			return err
		}
		return membersOK(st, map[string]bool{"e1": true, "e2": true, "e3": true, "e4": false})
	})
	mustCtl(t, roostctl, "--endpoints", all, "cluster", "join", "e4", p4.raft)
	mustCtl(t, roostctl, "--endpoints", all, "cluster", "remove", "e3")
	waitFor(t, "e4 promoted and e3 gone", 30*time.Second, func() error {
		st, err := nodeStatus(t, roostctl, p4.grpc)
		if err != nil {
			return err
		}
		return membersOK(st, map[string]bool{"e1": true, "e2": true, "e4": true})
	})
	p3.term(t)
	all = p1.grpc + "," + p2.grpc + "," + p4.grpc
	out = mustCtl(t, roostctl, "--endpoints", all, "cluster", "transfer-leader")
	if !strings.HasPrefix(out, "leader is now ") {
		t.Errorf("transfer-leader printed %q", out)
	}

	// Snapshot save, then restore it after more changes: they are undone.
	snap := filepath.Join(t.TempDir(), "roost.snap")
	mustCtl(t, roostctl, "--endpoints", all, "snapshot", "save", snap)
	before := mustCtl(t, roostctl, "--endpoints", p1.grpc, "mailbox", "list", "--consistent")
	mustCtl(t, roostctl, "--endpoints", all, "mailbox", "activate", "user.after-snapshot", "be1!default")
	mustCtl(t, roostctl, "--endpoints", all, "snapshot", "restore", snap)
	waitFor(t, "the restored state on every node", 30*time.Second, func() error {
		for _, p := range []*proc{p1, p2, p4} {
			out, err := ctl(t, roostctl, "--endpoints", p.grpc, "mailbox", "list")
			if err != nil {
				return err
			}
			if out != before {
				return fmt.Errorf("%s lists\n%s\nwant\n%s", p.id, out, before)
			}
		}
		return nil
	})

	// The watcher saw every change in order, each once; the restore ended
	// its stream with a request to list again.
	watch.Process.Signal(syscall.SIGTERM)
	var revs []uint64
	seen := map[string]bool{}
	for line := range lines {
		var ev struct {
			Type     string
			Revision uint64
			Mailbox  struct{ Name string }
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("watch printed %q: %v", line, err)
		}
		key := fmt.Sprint(ev.Revision, ev.Mailbox.Name)
		if seen[key] {
			t.Errorf("watch printed %s twice", key)
		}
		seen[key] = true
		revs = append(revs, ev.Revision)
	}
	for i := 1; i < len(revs); i++ {
		if revs[i] < revs[i-1] {
			t.Errorf("watch went back from revision %d to %d", revs[i-1], revs[i])
		}
	}
	// 3×(reserve+activate), deactivate, delete, the crash writes that
	// were acknowledged, and user.after-snapshot.
	if min := 8 + acked + 1; len(revs) < min {
		t.Errorf("watch printed %d events, want at least %d", len(revs), min)
	}

	// SIGTERM stops every node cleanly.
	for _, p := range []*proc{p1, p2, p4} {
		p.term(t)
	}
}

// TestRoostdDefaults checks the README's promise: roostd with no flags
// runs a single-node cluster that roostctl reaches with no flags.
func TestRoostdDefaults(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	for _, port := range []string{"3905", "3906", "3907", "3908"} {
		if l, err := net.Listen("tcp", "127.0.0.1:"+port); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("default port %s is taken: %v", port, err)
			}
			t.Skipf("default port %s is taken: %v", port, err)
		} else {
			l.Close()
		}
	}
	dir := t.TempDir()
	cmd := exec.Command(roostd)
	cmd.Dir = dir
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, "a leader", 20*time.Second, func() error {
		_, err := ctl(t, roostctl, "mailbox", "activate", "user.default", "be1!default")
		return err
	})
	out := mustCtl(t, roostctl, "mailbox", "get", "user.default")
	if !strings.Contains(out, "ACTIVE") {
		t.Errorf("mailbox get printed %q", out)
	}
	for _, f := range []string{"wal", "mupdate-users", "mupdate-admin-password"} {
		if _, err := os.Stat(filepath.Join(dir, "roost-data", f)); err != nil {
			t.Errorf("no ./roost-data/%s: %v", f, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("roostd exited with %v; log:\n%s", err, log.String())
		}
	case <-ctx.Done():
		t.Fatal(errors.New("roostd did not stop on SIGTERM"))
	}
}
