package raftfsm

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// BenchmarkStoreOpen measures a node's start on each Raft store, up to
// Open's return (raft reads every log entry after the last snapshot for
// configurations before it starts): a new directory, bootstrapping, and
// one whose log holds 100,000 entries of 300 bytes. It reports the data
// directory's apparent and allocated size after the start.
func BenchmarkStoreOpen(b *testing.B) {
	for _, kind := range []RaftStore{RaftStoreWAL, RaftStoreBoltDB} {
		b.Run(fmt.Sprintf("%s/new", kind), func(b *testing.B) {
			var dir string
			for b.Loop() {
				b.StopTimer()
				dir = b.TempDir()
				b.StartTimer()
				s := openBenchStore(b, dir, kind, true)
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			reportDisk(b, dir)
		})
		b.Run(fmt.Sprintf("%s/100k", kind), func(b *testing.B) {
			dir := b.TempDir()
			openBenchStore(b, dir, kind, true).Close()
			appendNoops(b, dir, kind, 100_000, 300)
			for b.Loop() {
				s := openBenchStore(b, dir, kind, false)
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			reportDisk(b, dir)
		})
	}
}

func openBenchStore(b *testing.B, dir string, kind RaftStore, bootstrap bool) *Store {
	b.Helper()
	s, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: bootstrap, RaftStore: kind,
		SnapshotInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// appendNoops appends n entries of size bytes that the FSM never sees, in
// the store's current term.
func appendNoops(b *testing.B, dir string, kind RaftStore, n, size int) {
	b.Helper()
	st, err := openRaftStore(kind, storePath(dir, kind), hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	term, err := st.GetUint64([]byte("CurrentTerm"))
	if err != nil {
		b.Fatal(err)
	}
	last, err := st.LastIndex()
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	for done := 0; done < n; {
		batch := make([]*raft.Log, 0, 1000)
		for ; done < n && len(batch) < cap(batch); done++ {
			last++
			batch = append(batch, &raft.Log{Index: last, Term: term, Type: raft.LogNoop, Data: data, AppendedAt: time.Now()})
		}
		if err := st.StoreLogs(batch); err != nil {
			b.Fatal(err)
		}
	}
}

// reportDisk reports what dir takes on disk: its files' sizes, and the
// blocks allocated to them.
func reportDisk(b *testing.B, dir string) {
	b.Helper()
	var apparent, allocated int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		apparent += fi.Size()
		allocated += fi.Sys().(*syscall.Stat_t).Blocks * 512
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(apparent)/(1<<20), "MiB-apparent")
	b.ReportMetric(float64(allocated)/(1<<20), "MiB-allocated")
}
