package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
)

// killLeader sends SIGKILL to the leader, and returns it and the time
// from the kill to the first write that a survivor accepted after it.
// Each survivor is sent one write after another from the moment of the
// kill; a follower holds a write until it knows the new leader.
func killLeader(t testing.TB, nodes []*procNode, prefix string) (*procNode, time.Duration) {
	t.Helper()
	l, err := findLeader(nodes)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan time.Time, len(nodes))
	start := make(chan struct{})
	var probes sync.WaitGroup
	for i, n := range nodes {
		if n == l {
			continue
		}
		probes.Go(func() {
			<-start
			for k := 0; ctx.Err() == nil; k++ {
				name := fmt.Sprintf("%s.probe.%d.%04d", prefix, i, k)
				_, err := n.mailboxes().Activate(ctx, &roostv1.ActivateRequest{Name: []byte(name), Location: []byte("fo!default")})
				if err == nil {
					accepted <- time.Now()
					return
				}
			}
		})
	}
	l.cmd.Process.Kill()
	killed := time.Now()
	close(start)
	var first time.Time
	select {
	case first = <-accepted:
	case <-ctx.Done():
		t.Fatalf("no write accepted within 30s of SIGKILL to leader %s", l.id)
	}
	cancel()
	probes.Wait()
	l.cmd.Wait()
	return l, first.Sub(killed)
}

// restartCaughtUp starts a stopped node again on its data directory and
// waits until it follows a leader and has caught up with it.
func restartCaughtUp(t testing.TB, roostd string, n *procNode, extra ...string) {
	t.Helper()
	n.start(t, roostd, extra...)
	waitFor(t, n.id+" to catch up after its restart", 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := n.mailboxes().ListMailboxes(ctx, &roostv1.ListMailboxesRequest{Consistent: true, PageSize: 1})
		return err
	})
}

// holdsStore checks that a node's data directory holds the named store.
func holdsStore(dir, store string) error {
	path := map[string]string{"wal": filepath.Join(dir, "wal"), "boltdb": filepath.Join(dir, "raft.db")}[store]
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%s holds no %s store: %w", dir, store, err)
	}
	return nil
}

// TestFailoverLeaderKill kills the leader of three roostd processes on
// default flags with SIGKILL while writers keep them busy, for each log
// store: writes resume on the survivors, the killed node comes back on
// its data directory, and no acknowledged write is lost anywhere.
func TestFailoverLeaderKill(t *testing.T) {
	roostd, _ := buildBinaries(t)
	for _, store := range raftStores {
		t.Run(store, func(t *testing.T) {
			nodes := startProcCluster(t, roostd, "fo-"+store, true, "--raft-store", store)
			for _, n := range nodes {
				if err := holdsStore(n.dir, store); err != nil {
					t.Fatal(err)
				}
			}
			w := startWriters(t.Context(), nodes, 4)
			defer w.finish()
			w.waitMore(t, 50, "before the kill")
			killed, d := killLeader(t, nodes, "fo")
			t.Logf("%s: SIGKILL to leader %s, first write accepted after %v", store, killed.id, d)
			w.waitMore(t, 50, "with the leader killed")
			restartCaughtUp(t, roostd, killed, "--raft-store", store)
			w.waitMore(t, 50, "with the old leader back")
			checkAcked(t, nodes, w.finish())
		})
	}
}

// BenchmarkFailover measures, for each log store, the time from SIGKILL
// to the leader of three roostd processes on default flags to the first
// write a survivor accepts, while writers keep the nodes busy. The binary
// is built without the race detector. Run with -benchtime Nx for N kills;
// it reports the median and the slowest.
func BenchmarkFailover(b *testing.B) {
	dir := b.TempDir()
	roostd := filepath.Join(dir, "roostd")
	if out, err := exec.Command("go", "build", "-o", roostd, "../cmd/roostd").CombinedOutput(); err != nil {
		b.Fatalf("build roostd: %v\n%s", err, out)
	}
	for _, store := range raftStores {
		b.Run(store, func(b *testing.B) {
			nodes := startProcCluster(b, roostd, "bf-"+store, true, "--raft-store", store)
			var times []time.Duration
			for i := 0; b.Loop(); i++ {
				w := startWriters(b.Context(), nodes, 8)
				killed, d := killLeader(b, nodes, fmt.Sprintf("bf%d", i))
				w.finish()
				times = append(times, d)
				restartCaughtUp(b, roostd, killed, "--raft-store", store)
				waitProcMembers(b, nodes)
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms-p50")
			b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "ms-max")
			b.Logf("%s: %v", store, times)
		})
	}
}
