package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
)

// exited waits, at most d, for a started process to end, and returns its
// exit status (-1 when it did not end in time, after killing it).
func exited(t *testing.T, p *proc, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitCode()
		}
		t.Fatalf("wait for %s: %v", p.id, err)
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-done
	}
	return -1
}

// TestRoostdDoubleStart starts a second roostd on a data directory in use,
// as a systemd double start does: it exits at once, saying which process
// holds the directory, and the first node carries on.
func TestRoostdDoubleStart(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	first := newProc(t, "d1")
	first.start(t, roostd)
	waitFor(t, "a leader", 20*time.Second, func() error {
		_, err := ctl(t, roostctl, "--endpoints", first.grpc, "mailbox", "activate", "user.first", "be1!default")
		return err
	})
	second := newProc(t, "d1")
	second.dir = first.dir
	second.start(t, roostd)
	if code := exited(t, second, 10*time.Second); code != 1 {
		t.Fatalf("a second roostd on the same directory: exit status %d, want 1 at once; log:\n%s", code, second.log)
	}
	if want := fmt.Sprintf("locked by process %d", first.cmd.Process.Pid); !strings.Contains(second.log.String(), want) {
		t.Errorf("the second roostd's message lacks %q:\n%s", want, second.log)
	}
	if out := mustCtl(t, roostctl, "--endpoints", first.grpc, "mailbox", "get", "user.first"); !strings.Contains(out, "ACTIVE") {
		t.Errorf("the first node after the double start: %q", out)
	}
	first.term(t)
}

// TestRoostdStopsWithoutQuorum sends SIGTERM to the last node of a
// cluster whose other two were killed: it cannot hand leadership over or
// reach anyone, and must still stop, within roostd's stop timeout.
func TestRoostdStopsWithoutQuorum(t *testing.T) {
	roostd, _ := buildBinaries(t)
	nodes := startProcCluster(t, roostd, "q", false)
	for _, n := range nodes[1:] {
		n.kill()
	}
	last := nodes[0]
	last.cmd.Process.Signal(syscall.SIGTERM)
	code := exited(t, last.proc, 30*time.Second)
	if code == -1 {
		t.Fatalf("roostd did not stop within 30 s of SIGTERM; log:\n%s", last.log)
	}
	t.Logf("exit status %d", code)
}

// TestRoostdJoinCannotSplit restarts a node that once bootstrapped a
// cluster of its own with --join naming another: it refuses to start,
// saying what to do, and the other cluster is untouched. A member of that
// cluster restarted with the same --join starts as before.
func TestRoostdJoinCannotSplit(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	cluster := startProcCluster(t, roostd, "js", false)
	lone := newProc(t, "lone")
	lone.start(t, roostd)
	waitFor(t, "the lone node to lead", 20*time.Second, func() error {
		_, err := ctl(t, roostctl, "--endpoints", lone.grpc, "mailbox", "activate", "user.lone", "be9!default")
		return err
	})
	lone.term(t)
	lone.start(t, roostd, "--join", cluster[0].grpc)
	if code := exited(t, lone, 20*time.Second); code != 1 {
		t.Fatalf("lone node restarted with --join: exit status %d, want 1; log:\n%s", code, lone.log)
	}
	for _, want := range []string{"holds a cluster of its own (members lone)", "start it without --join", "move " + lone.dir + " aside"} {
		if !strings.Contains(lone.log.String(), want) {
			t.Errorf("the refusal lacks %q:\n%s", want, lone.log)
		}
	}
	waitProcMembers(t, cluster)
	if _, err := ctl(t, roostctl, "--endpoints", cluster[0].grpc, "mailbox", "get", "user.lone"); err == nil {
		t.Error("the cluster holds the lone node's mailbox")
	}

	// A member restarted with its --join is no split.
	m := cluster[2]
	m.term(t)
	m.start(t, roostd, "--join", cluster[0].grpc)
	waitProcMembers(t, cluster)
}

// TestRemovedNodeSaysSo removes a running member: it learns that it was
// removed, says so on /readyz and in its log, and takes no writes.
func TestRemovedNodeSaysSo(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	nodes := startProcCluster(t, roostd, "rm", false)
	leader := leaderProc(t, nodes)
	gone := notLeader(nodes, leader)
	mustCtl(t, roostctl, "--endpoints", leader.grpc, "cluster", "remove", gone.id)
	waitFor(t, "the removed node's /readyz", 20*time.Second, func() error {
		resp, err := http.Get("http://" + gone.http + "/readyz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "removed from the cluster") {
			return fmt.Errorf("%d %q", resp.StatusCode, body)
		}
		return nil
	})
	if _, err := ctl(t, roostctl, "--endpoints", gone.grpc, "--timeout", "10s", "mailbox", "activate", "user.afterremove", "be1!default"); err == nil {
		t.Error("the removed node took a write")
	}
	gone.term(t)
	if !strings.Contains(gone.log.String(), "removed from the cluster") {
		t.Errorf("the removed node's log does not say so:\n%s", gone.log)
	}
}

// TestJoinUnreachableStaysNonvoter adds a member at an address nobody
// listens on, as a typo would: it stays a non-voter waiting to catch up,
// so that the cluster still takes writes with one of its real voters down.
func TestJoinUnreachableStaysNonvoter(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	nodes := startProcCluster(t, roostd, "dv", false)
	leader := leaderProc(t, nodes)
	mustCtl(t, roostctl, "--endpoints", leader.grpc, "cluster", "join", "n9", "127.0.0.1:1")
	out := mustCtl(t, roostctl, "--endpoints", leader.grpc, "cluster", "status")
	if !strings.Contains(out, "nonvoter, to be promoted once caught up") {
		t.Fatalf("cluster status after joining an unreachable node:\n%s", out)
	}
	notLeader(nodes, leader).kill()
	waitFor(t, "a write with one of three voters down and n9 unreachable", 20*time.Second, func() error {
		_, err := ctl(t, roostctl, "--endpoints", leader.grpc, "--timeout", "5s", "mailbox", "activate", "user.quorum", "be1!default")
		return err
	})
	st, err := leader.status()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.Id == "n9" && (m.Suffrage == roostv1.Suffrage_SUFFRAGE_VOTER || !m.PromotionPending) {
			t.Errorf("n9 is %v (promotion pending %v), want a non-voter waiting", m.Suffrage, m.PromotionPending)
		}
	}
}

// TestKilledMemberUnhealthy SIGKILLs a follower: within seconds the
// leader's status and metrics show it unhealthy, where they went on
// listing it as a voter follower with nothing amiss.
func TestKilledMemberUnhealthy(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	nodes := startProcCluster(t, roostd, "hk", false)
	leader := leaderProc(t, nodes)
	victim := notLeader(nodes, leader)
	memberHealth := func() (map[string]string, error) {
		out, err := ctl(t, roostctl, "--endpoints", leader.grpc, "-o", "json", "cluster", "status")
		if err != nil {
			return nil, err
		}
		var st struct {
			Members []struct{ ID, Health string }
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return nil, err
		}
		h := map[string]string{}
		for _, m := range st.Members {
			h[m.ID] = m.Health
		}
		return h, nil
	}
	waitFor(t, "every member healthy", 20*time.Second, func() error {
		h, err := memberHealth()
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if h[n.id] != "healthy" {
				return fmt.Errorf("%v", h)
			}
		}
		return nil
	})
	victim.kill()
	waitFor(t, "the killed member shown unhealthy", 10*time.Second, func() error {
		h, err := memberHealth()
		if err != nil {
			return err
		}
		if !strings.HasPrefix(h[victim.id], "unhealthy") {
			return fmt.Errorf("%v", h)
		}
		return nil
	})
	resp, err := http.Get("http://" + leader.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if want := fmt.Sprintf("roost_member_healthy{member=%q} 0", victim.id); !strings.Contains(string(body), want) {
		t.Errorf("the leader's metrics lack %s", want)
	}
}

// notLeader returns a node other than leader.
func notLeader(nodes []*procNode, leader *procNode) *procNode {
	for _, n := range nodes {
		if n != leader {
			return n
		}
	}
	return nil
}
