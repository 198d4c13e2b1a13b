package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// raftStores are the log stores every crash and failover test runs
// against.
var raftStores = []string{"wal", "boltdb"}

// procCluster is three roostd processes on roostd's default timings, and
// a gRPC connection to each.
type procCluster struct {
	roostd string
	procs  []*proc
	conns  map[*proc]*grpc.ClientConn
}

// startProcCluster starts three nodes (the first bootstraps, the others
// join it), each with extra flags, and waits until all are registered.
func startProcCluster(t testing.TB, roostd, prefix string, extra ...string) *procCluster {
	t.Helper()
	c := &procCluster{roostd: roostd, conns: map[*proc]*grpc.ClientConn{}}
	for i := 1; i <= 3; i++ {
		p := newProc(t, fmt.Sprintf("%s%d", prefix, i))
		p.defaults = true
		args := extra
		if i > 1 {
			args = append(slices.Clone(extra), "--join", c.procs[0].grpc)
		}
		p.start(t, roostd, args...)
		cc, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		c.procs, c.conns[p] = append(c.procs, p), cc
	}
	c.waitMembers(t, c.procs)
	return c
}

func (c *procCluster) mailboxes(p *proc) roostv1.MailboxServiceClient {
	return roostv1.NewMailboxServiceClient(c.conns[p])
}

// waitMembers waits until one of the running nodes leads a cluster of all
// three, each registered.
func (c *procCluster) waitMembers(t testing.TB, running []*proc) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range c.procs {
		want[p.id] = true
	}
	waitFor(t, "three registered members", 60*time.Second, func() error {
		l, err := c.leader(running)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := roostv1.NewClusterServiceClient(c.conns[l]).GetStatus(ctx, &roostv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		got := map[string]bool{}
		for _, m := range st.Members {
			if m.GrpcAddress == "" {
				return fmt.Errorf("%s has no gRPC address yet", m.Id)
			}
			got[m.Id] = m.Suffrage == roostv1.Suffrage_SUFFRAGE_VOTER
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("members %v", got)
		}
		return nil
	})
}

// leader returns the running node that says it leads.
func (c *procCluster) leader(running []*proc) (*proc, error) {
	for _, p := range running {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := roostv1.NewClusterServiceClient(c.conns[p]).GetStatus(ctx, &roostv1.GetStatusRequest{})
		cancel()
		if err == nil && st.Role == roostv1.Role_ROLE_LEADER {
			return p, nil
		}
	}
	return nil, errors.New("no leader")
}

// writers keep writing through the given nodes, one mailbox at a time
// each, until stopped, and record what was acknowledged.
type writers struct {
	stop  context.CancelFunc
	wg    sync.WaitGroup
	acked sync.Map // name → struct{}
	n     atomic.Int64
}

func (c *procCluster) startWriters(through []*proc, perNode int, prefix string) *writers {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writers{stop: cancel}
	for i, p := range through {
		mc := c.mailboxes(p)
		for j := range perNode {
			w.wg.Go(func() {
				for k := 0; ctx.Err() == nil; k++ {
					name := fmt.Sprintf("%s.%d.%d.%06d", prefix, i, j, k)
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := mc.Activate(cctx, &roostv1.ActivateRequest{Name: []byte(name), Location: []byte("fo!default")})
					cancel()
					if err == nil {
						w.acked.Store(name, struct{}{})
						w.n.Add(1)
					}
				}
			})
		}
	}
	return w
}

// halt stops the writers and waits for their last calls.
func (w *writers) halt() {
	w.stop()
	w.wg.Wait()
}

// killLeader sends SIGKILL to the leader while writers keep the others
// busy, and returns the killed node and the time from the kill to the
// first write that a survivor accepted after it.
func (c *procCluster) killLeader(t testing.TB, prefix string) (*proc, time.Duration) {
	t.Helper()
	l, err := c.leader(c.procs)
	if err != nil {
		t.Fatal(err)
	}
	var survivors []*proc
	for _, p := range c.procs {
		if p != l {
			survivors = append(survivors, p)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan time.Time, len(survivors))
	start := make(chan struct{})
	var probes sync.WaitGroup
	for i, p := range survivors {
		mc := c.mailboxes(p)
		probes.Go(func() {
			<-start
			for k := 0; ctx.Err() == nil; k++ {
				name := fmt.Sprintf("%s.probe.%d.%04d", prefix, i, k)
				_, err := mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(name), Location: []byte("fo!default")})
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

// restart starts a stopped node again on its data directory and waits
// until it follows a leader and has caught up with it.
func (c *procCluster) restart(t testing.TB, p *proc, extra ...string) {
	t.Helper()
	p.start(t, c.roostd, extra...)
	waitFor(t, p.id+" to catch up after its restart", 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.mailboxes(p).ListMailboxes(ctx, &roostv1.ListMailboxesRequest{Consistent: true, PageSize: 1})
		return err
	})
}

// checkAcked fails unless every acknowledged write is on p, read
// linearizably (p first catches up with the leader).
func (c *procCluster) checkAcked(t testing.TB, p *proc, w *writers, prefix string) {
	t.Helper()
	have := map[string]bool{}
	req := &roostv1.ListMailboxesRequest{Prefix: []byte(prefix), Consistent: true, PageSize: 10000}
	waitFor(t, p.id+" to answer a consistent listing", 30*time.Second, func() error {
		clear(have)
		req.PageToken = nil
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.mailboxes(p).ListMailboxes(ctx, req)
			cancel()
			if err != nil {
				return err
			}
			for _, m := range resp.Mailboxes {
				have[string(m.Name)] = true
			}
			if len(resp.NextPageToken) == 0 {
				return nil
			}
			req.PageToken = resp.NextPageToken
		}
	})
	missing := 0
	w.acked.Range(func(k, _ any) bool {
		if !have[k.(string)] {
			missing++
			if missing <= 5 {
				t.Errorf("%s: acknowledged write %s is missing", p.id, k)
			}
		}
		return true
	})
	if missing > 0 {
		t.Errorf("%s: %d of %d acknowledged writes missing", p.id, missing, w.n.Load())
	}
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
// default flags with SIGKILL while writers keep the survivors busy, for
// each log store: writes resume on the survivors, the killed node comes
// back on its data directory, and no acknowledged write is lost anywhere.
func TestFailoverLeaderKill(t *testing.T) {
	roostd, _ := buildBinaries(t)
	for _, store := range raftStores {
		t.Run(store, func(t *testing.T) {
			c := startProcCluster(t, roostd, "fo-"+store, "--raft-store", store)
			for _, p := range c.procs {
				if err := holdsStore(p.dir, store); err != nil {
					t.Fatal(err)
				}
			}
			w := c.startWriters(c.procs, 4, "fo")
			waitFor(t, "writes before the kill", 20*time.Second, func() error {
				if w.n.Load() < 50 {
					return fmt.Errorf("%d acknowledged", w.n.Load())
				}
				return nil
			})
			killed, d := c.killLeader(t, "fo")
			t.Logf("%s: SIGKILL to leader %s, first write accepted after %v", store, killed.id, d)
			c.restart(t, killed, "--raft-store", store)
			c.waitMembers(t, c.procs)
			before := w.n.Load()
			waitFor(t, "writes after the restart", 20*time.Second, func() error {
				if w.n.Load() < before+50 {
					return fmt.Errorf("%d acknowledged since", w.n.Load()-before)
				}
				return nil
			})
			w.halt()
			for _, p := range c.procs {
				c.checkAcked(t, p, w, "fo.")
			}
		})
	}
}

// BenchmarkFailover measures, for each log store, the time from SIGKILL
// to the leader of three roostd processes on default flags to the first
// write a survivor accepts, while writers keep the survivors busy. The
// binary is built without the race detector. Run with -benchtime Nx for
// N kills; it reports the median and the slowest.
func BenchmarkFailover(b *testing.B) {
	dir := b.TempDir()
	roostd := filepath.Join(dir, "roostd")
	if out, err := exec.Command("go", "build", "-o", roostd, "../cmd/roostd").CombinedOutput(); err != nil {
		b.Fatalf("build roostd: %v\n%s", err, out)
	}
	for _, store := range raftStores {
		b.Run(store, func(b *testing.B) {
			c := startProcCluster(b, roostd, "bf-"+store, "--raft-store", store)
			var times []time.Duration
			for i := 0; b.Loop(); i++ {
				w := c.startWriters(c.procs, 8, fmt.Sprintf("bf%d", i))
				killed, d := c.killLeader(b, fmt.Sprintf("bf%d", i))
				w.halt()
				times = append(times, d)
				c.restart(b, killed, "--raft-store", store)
				c.waitMembers(b, c.procs)
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "ms-p50")
			b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "ms-max")
			b.Logf("%s: %v", store, times)
		})
	}
}
