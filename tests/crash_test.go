package tests

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestKillLosesNoAcknowledgedWrite: with each Raft store, SIGKILL of the
// leader while writes go on, then of a follower, then of every node at
// once, loses no write a node acknowledged: each is on every node once
// they are back.
func TestKillLosesNoAcknowledgedWrite(t *testing.T) {
	roostd, _ := buildBinaries(t)
	for _, store := range raftStores {
		t.Run(store, func(t *testing.T) {
			nodes := startProcCluster(t, roostd, "k"+store[:1], false, "--raft-store", store)
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
	n := &procNode{proc: newProc(t, "c1")}
	n.start(t, roostd, "--raft-store", "boltdb")
	conn, err := grpc.NewClient(n.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n.conn = conn
	nodes := []*procNode{n}
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
	waitReadyz(t, p.id, p.http)
}

// waitReadyz waits until a process's /readyz on httpAddr says 200.
func waitReadyz(tb testing.TB, what, httpAddr string) {
	tb.Helper()
	waitFor(tb, what+" ready", 30*time.Second, func() error {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
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
