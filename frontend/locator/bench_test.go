package locator_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/frontend/locator"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/client"
)

// benchMailboxes is the database size of the cache benchmarks.
const benchMailboxes = 1_000_000

// loadNode fills a node with n mailboxes the shape of a real murder's:
// users' INBOXes and folders on a few backends, each with its owner's ACL.
func loadNode(b *testing.B, n *node.Node, count int) {
	b.Helper()
	const batch = 10_000
	for i := 0; i < count; i += batch {
		ops := make([]raftfsm.Op, 0, batch)
		for j := i; j < min(i+batch, count); j++ {
			user := fmt.Sprintf("u%07d", j/4)
			name := "user." + user
			if j%4 > 0 {
				name += []string{"", ".Sent", ".Drafts", ".Trash"}[j%4]
			}
			ops = append(ops, raftfsm.Op{Kind: raftfsm.OpActivate, Name: name,
				Location: fmt.Sprintf("backend%d!default", j%5), ACL: user + "\tlrswipkxtecdan\t"})
		}
		if _, err := n.Store().Apply(b.Context(), ops, true); err != nil {
			b.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// syncOnce opens a cache in dir and follows the node until the cache
// holds revision rev; it returns the time that took and the running
// cache's stop.
func syncOnce(b *testing.B, dir string, cl *client.Client, rev uint64) (time.Duration, *locator.Cache, func()) {
	b.Helper()
	start := time.Now()
	c, err := locator.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, cl) }()
	if err := c.WaitFor(ctx, func() bool { return c.Ready() && c.Revision() >= rev }); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	return took, c, func() { cancel(); <-done; c.Close() }
}

// BenchmarkCache measures, against one node holding a million mailboxes
// on loopback: a cold sync (a new cache's first listing, to disk), a
// restart after ten changes (open the file, resume, apply them), and the
// heap a synced cache holds per mailbox.
func BenchmarkCache(b *testing.B) {
	n := startNodeB(b)
	loadNode(b, n, benchMailboxes)
	rev := n.Store().FSM().Revision()
	cl, err := client.New(client.Config{Endpoints: []string{n.GRPCAddr()}})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	b.Run("ColdSync1M", func(b *testing.B) {
		for b.Loop() {
			dir := b.TempDir()
			took, _, stop := syncOnce(b, dir, cl, rev)
			stop()
			b.ReportMetric(took.Seconds(), "s/sync")
			if fi, err := os.Stat(filepath.Join(dir, locator.FileName)); err == nil {
				b.ReportMetric(float64(fi.Size())/(1<<20), "MiB/file")
			}
		}
	})
	b.Run("Restart10Changes", func(b *testing.B) {
		dir := b.TempDir()
		_, _, stop := syncOnce(b, dir, cl, rev)
		stop()
		var total time.Duration
		k := 0
		for b.Loop() {
			b.StopTimer()
			for i := range 10 {
				if _, err := n.Store().Apply(b.Context(), []raftfsm.Op{{Kind: raftfsm.OpActivate,
					Name: fmt.Sprintf("user.restart%d.f%d", k, i), Location: "backend1!default"}}, false); err != nil {
					b.Fatal(err)
				}
			}
			k++
			target := n.Store().FSM().Revision()
			b.StartTimer()
			took, _, stop := syncOnce(b, dir, cl, target)
			b.StopTimer()
			stop()
			total += took
			b.StartTimer()
		}
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/ready")
	})
	b.Run("HeapPerMailbox", func(b *testing.B) {
		dir := b.TempDir()
		for b.Loop() {
			before := heapInUse()
			_, c, stop := syncOnce(b, dir, cl, rev)
			after := heapInUse()
			b.ReportMetric(float64(int64(after)-int64(before))/float64(c.Len()), "B/mailbox")
			stop()
		}
	})
}

func startNodeB(b *testing.B) *node.Node { return startNodeTB(b) }
