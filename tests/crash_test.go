package tests

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// crashNode is a roostd process with a gRPC connection that outlives its
// restarts.
type crashNode struct {
	*proc
	conn *grpc.ClientConn
}

// startCrashCluster starts three roostd processes on store, the first
// bootstrapping and the others joining it, and waits until all are
// registered members.
func startCrashCluster(t *testing.T, roostd, roostctl, prefix, store string) []*crashNode {
	t.Helper()
	var nodes []*crashNode
	for i := 1; i <= 3; i++ {
		n := &crashNode{proc: newProc(t, fmt.Sprintf("%s%d", prefix, i))}
		args := []string{"--raft-store", store}
		if i > 1 {
			args = append(args, "--join", nodes[0].grpc)
		}
		n.start(t, roostd, args...)
		conn, err := grpc.NewClient(n.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		n.conn = conn
		nodes = append(nodes, n)
	}
	want := map[string]bool{}
	for _, n := range nodes {
		want[n.id] = true
	}
	waitFor(t, "three members", 60*time.Second, func() error {
		st, err := nodeStatus(t, roostctl, nodes[0].grpc)
		if err != nil {
			return err
		}
		return membersOK(st, want)
	})
	return nodes
}

// leaderProc returns the node the others agree leads.
func leaderProc(t *testing.T, nodes []*crashNode) *crashNode {
	t.Helper()
	var leader *crashNode
	waitFor(t, "a leader", 30*time.Second, func() error {
		for _, n := range nodes {
			st, err := roostv1.NewClusterServiceClient(n.conn).GetStatus(t.Context(), &roostv1.GetStatusRequest{})
			if err != nil {
				continue
			}
			for _, l := range nodes {
				if l.id == st.LeaderId {
					leader = l
					return nil
				}
			}
		}
		return errors.New("no node knows a leader")
	})
	return leader
}

// ackedWriters activates new names through every node, round robin, from
// a few goroutines, and records each write a node acknowledged.
type ackedWriters struct {
	mu    sync.Mutex
	acked []string // protected by mu
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

func startWriters(ctx context.Context, nodes []*crashNode, writers int) *ackedWriters {
	ctx, cancel := context.WithCancel(ctx)
	w := &ackedWriters{stop: cancel}
	for g := range writers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				n := nodes[(g+i)%len(nodes)]
				name := fmt.Sprintf("user.w%d-%06d", g, i)
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := roostv1.NewMailboxServiceClient(n.conn).Activate(cctx, &roostv1.ActivateRequest{
					Name: []byte(name), Location: []byte("be1!default"), Acl: []byte("jane\tlrs\t")})
				ccancel()
				if err == nil {
					w.mu.Lock()
					w.acked = append(w.acked, name)
					w.mu.Unlock()
					continue
				}
				// A node that is down refuses at once: pace the retries.
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	return w
}

func (w *ackedWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitMore waits until n more writes than now have been acknowledged.
func (w *ackedWriters) waitMore(t *testing.T, n int, what string) {
	t.Helper()
	target := w.count() + n
	waitFor(t, fmt.Sprintf("%d acknowledged writes %s", target, what), 60*time.Second, func() error {
		if c := w.count(); c < target {
			return fmt.Errorf("%d acknowledged", c)
		}
		return nil
	})
}

// finish stops the writers and returns what was acknowledged.
func (w *ackedWriters) finish() []string {
	w.stop()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// localNames lists the user.w names in a node's own copy of the database.
func localNames(ctx context.Context, n *crashNode) (map[string]bool, error) {
	got := map[string]bool{}
	var token []byte
	for {
		resp, err := roostv1.NewMailboxServiceClient(n.conn).ListMailboxes(ctx, &roostv1.ListMailboxesRequest{
			Prefix: []byte("user.w"), PageSize: 10000, PageToken: token})
		if err != nil {
			return nil, err
		}
		for _, m := range resp.Mailboxes {
			got[string(m.Name)] = true
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return got, nil
		}
	}
}

// checkAcked waits until every node holds every acknowledged write, and
// the same names as the others (a write whose answer was lost in a crash
// may be there too, but then everywhere).
func checkAcked(t *testing.T, nodes []*crashNode, acked []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("all %d acknowledged writes on every node", len(acked)), 60*time.Second, func() error {
		var first map[string]bool
		for _, n := range nodes {
			got, err := localNames(t.Context(), n)
			if err != nil {
				return fmt.Errorf("%s: %w", n.id, err)
			}
			missing := 0
			for _, name := range acked {
				if !got[name] {
					missing++
				}
			}
			if missing > 0 {
				return fmt.Errorf("%s lacks %d of %d acknowledged writes", n.id, missing, len(acked))
			}
			if first == nil {
				first = got
			} else if len(got) != len(first) {
				return fmt.Errorf("%s holds %d names, %s %d", n.id, len(got), nodes[0].id, len(first))
			}
		}
		return nil
	})
}

// TestKillLosesNoAcknowledgedWrite: with each Raft store, SIGKILL of the
// leader while writes go on, then of a follower, then of every node at
// once, loses no write a node acknowledged: each is on every node once
// they are back.
func TestKillLosesNoAcknowledgedWrite(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	for _, store := range []string{"wal", "boltdb"} {
		t.Run(store, func(t *testing.T) {
			nodes := startCrashCluster(t, roostd, roostctl, "k"+store[:1], store)
			w := startWriters(t.Context(), nodes, 4)
			defer w.finish()
			w.waitMore(t, 100, "before the kills")

			leader := leaderProc(t, nodes)
			leader.kill()
			w.waitMore(t, 100, "with the leader killed")
			leader.start(t, roostd, "--raft-store", store)
			w.waitMore(t, 100, "with the old leader back")

			follower := nodes[0]
			if l := leaderProc(t, nodes); l == follower {
				follower = nodes[1]
			}
			follower.kill()
			w.waitMore(t, 100, "with a follower killed")
			follower.start(t, roostd, "--raft-store", store)
			w.waitMore(t, 100, "with the follower back")

			for _, n := range nodes {
				n.kill()
			}
			for _, n := range nodes {
				n.start(t, roostd, "--raft-store", store)
			}
			w.waitMore(t, 100, "after every node was killed")
			acked := w.finish()
			checkAcked(t, nodes, acked)
			t.Logf("%d writes acknowledged across the kills", len(acked))
		})
	}
}

// TestConvertedNodeKeepsData: a node started on BoltDB, stopped and
// converted with roostd convert-store, starts on raft-wal with all its
// data and takes more writes. Converting it while it runs, and starting it
// with the store it no longer has, are refused with directions.
func TestConvertedNodeKeepsData(t *testing.T) {
	roostd, _ := buildBinaries(t)
	n := &crashNode{proc: newProc(t, "c1")}
	n.start(t, roostd, "--raft-store", "boltdb")
	conn, err := grpc.NewClient(n.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n.conn = conn
	nodes := []*crashNode{n}
	write := func(what string) []string {
		t.Helper()
		waitReady(t, n.proc)
		w := startWriters(t.Context(), nodes, 2)
		w.waitMore(t, 120, what) // past --snapshot-threshold 50: snapshots and a compacted log
		return w.finish()
	}
	acked := write("on boltdb")

	convert := func() (string, error) {
		out, err := exec.Command(roostd, "convert-store", "--data-dir", n.dir, "--to", "wal").CombinedOutput()
		return string(out), err
	}
	if out, err := convert(); err == nil || !strings.Contains(out, "in use") {
		t.Errorf("convert-store of a running node: %v, %s; want a refusal saying the store is in use", err, out)
	}
	n.term(t)
	if out, err := convert(); err != nil {
		t.Fatalf("convert-store: %v\n%s", err, out)
	}
	for _, f := range []string{"wal", "raft.db.converted", "snapshots"} {
		if _, err := os.Stat(filepath.Join(n.dir, f)); err != nil {
			t.Errorf("after convert-store: %v", err)
		}
	}

	out, err := exec.Command(roostd, "--node-id", n.id, "--data-dir", n.dir, "--raft-addr", n.raft,
		"--grpc-addr", n.grpc, "--http-addr", n.http, "--mupdate-addr", n.mupdate, "--raft-store", "boltdb").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "convert-store") {
		t.Errorf("roostd --raft-store boltdb on a converted directory: %v, %s; want a refusal naming convert-store", err, out)
	}

	n.start(t, roostd)
	checkAcked(t, nodes, acked)
	acked = append(acked, write("on wal")...)
	n.term(t)
	if !strings.Contains(n.log.String(), "store=wal") {
		t.Errorf("the converted node does not log opening its wal store; log:\n%s", n.log)
	}
	n.start(t, roostd)
	waitReady(t, n.proc)
	checkAcked(t, nodes, acked)
}

// waitReady waits for a node's /readyz.
func waitReady(t *testing.T, p *proc) {
	t.Helper()
	waitFor(t, p.id+" ready", 30*time.Second, func() error {
		resp, err := http.Get("http://" + p.http + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}
