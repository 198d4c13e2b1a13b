package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/hashicorp/raft"
)

const (
	benchBackends   = 20
	benchMailboxes  = 1_000_000
	benchBatchSize  = 1000
	foldersPerUser  = 5
	domainUserEvery = 10 // every 10th user lives in a virtual domain
)

var benchFolders = [foldersPerUser]string{"", ".Sent", ".Drafts", ".Trash", ".Archive"}

// realisticOp returns the i-th ACTIVATE of a realistic database: users of
// five folders each (INBOX, Sent, Drafts, Trash, Archive), one user in ten
// in a virtual domain, spread over 20 backends, with one ACL per user
// shared by all of the user's folders.
func realisticOp(i int) Op {
	u := i / foldersPerUser
	name := fmt.Sprintf("user.u%06d%s", u, benchFolders[i%foldersPerUser])
	if u%domainUserEvery == 0 {
		name = fmt.Sprintf("d%02d.example.com!%s", u%97, name)
	}
	return Op{
		Kind:     OpActivate,
		Name:     name,
		Location: fmt.Sprintf("be%02d!default", u%benchBackends),
		ACL:      fmt.Sprintf("u%06d\tlrswipkxtecdan\t", u),
	}
}

// loadRealistic applies n realistic entries in atomic batches of 1000.
func loadRealistic(tb testing.TB, n int) *FSM {
	tb.Helper()
	f := NewFSM(0, nil)
	ops := make([]Op, 0, benchBatchSize)
	index := uint64(0)
	for i := 0; i < n; i += benchBatchSize {
		ops = ops[:0]
		for j := i; j < min(i+benchBatchSize, n); j++ {
			ops = append(ops, realisticOp(j))
		}
		index++
		resp := f.Apply(commandLog(tb, index, true, ops...)).(*ApplyResponse)
		if err := resp.Results[0].Err; err != nil {
			tb.Fatalf("load batch %d: %v", index, err)
		}
	}
	if f.Len() != n {
		tb.Fatalf("Len() after load = %d, want %d", f.Len(), n)
	}
	return f
}

func skipLarge(b *testing.B) {
	if testing.Short() {
		b.Skip("1M-mailbox benchmark skipped in -short mode")
	}
}

// discardSink is a raft.SnapshotSink that counts and drops.
type discardSink struct{ n int64 }

func (s *discardSink) Write(p []byte) (int, error) { s.n += int64(len(p)); return len(p), nil }
func (s *discardSink) Close() error                { return nil }
func (s *discardSink) ID() string                  { return "discard" }
func (s *discardSink) Cancel() error               { return nil }

var _ raft.SnapshotSink = (*discardSink)(nil)

// benchPool pre-encodes entries that each change something: entry j
// writes ACL variant (j/len)%2, so cycling through the pool never repeats
// a no-op.
type benchPool struct {
	data [2][][]byte
}

func (p *benchPool) at(j int) []byte {
	n := len(p.data[0])
	return p.data[(j/n)%2][j%n]
}

func newBenchPool(b *testing.B, entries, opsPerEntry int, atomic bool) *benchPool {
	p := &benchPool{}
	for v := range 2 {
		p.data[v] = make([][]byte, entries)
		for e := range entries {
			ops := make([]Op, opsPerEntry)
			for k := range ops {
				i := e*opsPerEntry + k
				op := realisticOp(i)
				op.ACL = fmt.Sprintf("%sv%d\tlrs\t", op.ACL, v)
				ops[k] = op
			}
			data, err := encodeOps(ops, atomic, LogFormat)
			if err != nil {
				b.Fatal(err)
			}
			p.data[v][e] = data
		}
	}
	return p
}

func BenchmarkApplySingle(b *testing.B) {
	pool := newBenchPool(b, 1<<16, 1, false)
	f := NewFSM(0, nil)
	l := &raft.Log{Type: raft.LogCommand}
	j := 0
	for b.Loop() {
		l.Index = uint64(j + 1)
		l.Data = pool.at(j)
		f.Apply(l)
		j++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkApplyBatch1000(b *testing.B) {
	pool := newBenchPool(b, 64, benchBatchSize, true)
	f := NewFSM(0, nil)
	l := &raft.Log{Type: raft.LogCommand}
	j := 0
	for b.Loop() {
		l.Index = uint64(j + 1)
		l.Data = pool.at(j)
		f.Apply(l)
		j++
	}
	b.ReportMetric(float64(b.N*benchBatchSize)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkHeapPerMailbox measures the live heap of a 1M-mailbox FSM
// (including the default change history, which holds the last 100k
// entries).
func BenchmarkHeapPerMailbox(b *testing.B) {
	skipLarge(b)
	var perMailbox float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f := loadRealistic(b, benchMailboxes)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perMailbox = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / benchMailboxes
		runtime.KeepAlive(f)
	}
	b.ReportMetric(perMailbox, "B/mailbox")
}

func BenchmarkSnapshotPersist1M(b *testing.B) {
	skipLarge(b)
	f := loadRealistic(b, benchMailboxes)
	snap, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer snap.Release()
	var size int64
	for b.Loop() {
		sink := &discardSink{}
		if err := snap.Persist(sink); err != nil {
			b.Fatal(err)
		}
		size = sink.n
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
	b.ReportMetric(float64(size), "B/snapshot")
}

func BenchmarkSnapshotRestore1M(b *testing.B) {
	skipLarge(b)
	var buf bytes.Buffer
	if err := loadRealistic(b, benchMailboxes).View().WriteSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	runtime.GC()
	for b.Loop() {
		g := NewFSM(0, nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
		if g.Len() != benchMailboxes {
			b.Fatalf("Len() after restore = %d, want %d", g.Len(), benchMailboxes)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/op")
}

// TestRealisticOps checks the benchmark data is what it claims to be.
func TestRealisticOps(t *testing.T) {
	tests := []struct {
		i    int
		want Op
	}{
		{0, Op{Kind: OpActivate, Name: "d00.example.com!user.u000000", Location: "be00!default", ACL: "u000000\tlrswipkxtecdan\t"}},
		{6, Op{Kind: OpActivate, Name: "user.u000001.Sent", Location: "be01!default", ACL: "u000001\tlrswipkxtecdan\t"}},
		{999_999, Op{Kind: OpActivate, Name: "user.u199999.Archive", Location: "be19!default", ACL: "u199999\tlrswipkxtecdan\t"}},
	}
	for _, tt := range tests {
		if got := realisticOp(tt.i); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("realisticOp(%d) = %+v, want %+v", tt.i, got, tt.want)
		}
		if err := tt.want.Validate(); err != nil {
			t.Errorf("realisticOp(%d).Validate() = %v, want nil", tt.i, err)
		}
	}
	f := loadRealistic(t, 5*benchBatchSize+3)
	if got := f.Revision(); got != 6 {
		t.Errorf("Revision() after loading 6 batches = %d, want 6", got)
	}
}

// BenchmarkApplyInto1M applies entries of 256 new folders of users spread
// over a 1M-mailbox table, as concurrent clients' writes arrive: each
// operation lands far from the last, so this measures the table's cache
// misses more than its code.
func BenchmarkApplyInto1M(b *testing.B) {
	skipLarge(b)
	const perEntry = 256
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([][]byte, 400)
	for e := range pool {
		ops := make([]Op, perEntry)
		for k := range ops {
			op := realisticOp(rng.IntN(benchMailboxes))
			op.Name = fmt.Sprintf("%s.new%d", op.Name, e*perEntry+k)
			ops[k] = op
		}
		data, err := encodeOps(ops, false, LogFormat)
		if err != nil {
			b.Fatal(err)
		}
		pool[e] = data
	}
	var f *FSM
	l := &raft.Log{Type: raft.LogCommand}
	j := len(pool)
	for b.Loop() {
		if j == len(pool) {
			b.StopTimer()
			f = loadRealistic(b, benchMailboxes)
			l.Index = 1_000_000
			j = 0
			b.StartTimer()
		}
		l.Index++
		l.Data = pool[j]
		f.Apply(l)
		j++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perEntry), "ns/mailbox-op")
}
