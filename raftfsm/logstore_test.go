package raftfsm

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"weak"

	"github.com/hashicorp/raft"
)

// countingStore counts the reads that reach the store under the cache.
type countingStore struct {
	raft.LogStore
	gets int
}

func (s *countingStore) GetLog(index uint64, log *raft.Log) error {
	s.gets++
	return s.LogStore.GetLog(index, log)
}

func dataLog(index uint64, size int) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(index)}, size)}
}

// cached reports which of indexes the cache serves without reading the
// store, and fails if any read returns other than what was stored.
func cached(t *testing.T, c *logCache, under *countingStore, sizes map[uint64]int, indexes ...uint64) []uint64 {
	t.Helper()
	var hits []uint64
	for _, i := range indexes {
		before := under.gets
		var got raft.Log
		if err := c.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		if got.Index != i || !bytes.Equal(got.Data, dataLog(i, sizes[i]).Data) {
			t.Fatalf("GetLog(%d) = index %d, %d bytes: not what was stored", i, got.Index, len(got.Data))
		}
		if under.gets == before {
			hits = append(hits, i)
		}
	}
	return hits
}

// put stores entry i of size bytes through the cache, notes its size for
// cached, and checks the cache's count.
func put(t *testing.T, c *logCache, sizes map[uint64]int, i uint64, size int) {
	t.Helper()
	sizes[i] = size
	if err := c.StoreLogs([]*raft.Log{dataLog(i, size)}); err != nil {
		t.Fatal(err)
	}
	checkWeight(t, c)
}

// checkWeight fails unless the cache counts exactly what its ring holds.
func checkWeight(t *testing.T, c *logCache) {
	t.Helper()
	sum := 0
	for _, l := range c.ring {
		if l != nil {
			sum += logWeight(l)
		}
	}
	if c.bytes != sum {
		t.Fatalf("the cache counts %d bytes, its entries weigh %d", c.bytes, sum)
	}
	if c.bytes > c.maxBytes {
		t.Fatalf("the cache holds %d bytes, over its %d", c.bytes, c.maxBytes)
	}
}

func TestLogCacheBounds(t *testing.T) {
	const kb = 1024
	for _, tt := range []struct {
		name     string
		entries  int
		maxBytes int
		sizes    []int // of entries 1, 2, ... stored one call each
		want     []uint64
	}{
		{"all fit", 8, 64 * kb, []int{kb, kb, kb}, []uint64{1, 2, 3}},
		{"entry bound", 4, 64 * kb, []int{kb, kb, kb, kb, kb, kb}, []uint64{3, 4, 5, 6}},
		{"byte bound", 16, 3*kb + 3*128 + 10, []int{kb, kb, kb, kb, kb, kb}, []uint64{4, 5, 6}},
		{"big entry evicts the oldest", 16, 8 * kb, []int{kb, kb, kb, 6 * kb}, []uint64{3, 4}},
		// An entry over the whole budget is not cached, and costs the
		// others nothing.
		{"entry over the budget", 16, 4 * kb, []int{kb, kb, 5 * kb, kb}, []uint64{1, 2, 4}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			under := &countingStore{LogStore: raft.NewInmemStore()}
			c := newLogCache(under, tt.entries, tt.maxBytes)
			sizes := map[uint64]int{}
			var all []uint64
			for k, size := range tt.sizes {
				i := uint64(k + 1)
				all = append(all, i)
				put(t, c, sizes, i, size)
			}
			if got := cached(t, c, under, sizes, all...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("served from memory: %v, want %v", got, tt.want)
			}
		})
	}
}

// TestLogCacheStartsOver: after a delete the cache serves only what was
// stored since, and an entry out of sequence (an index stored again
// without a delete, or a jump past the last one, as after a snapshot)
// empties it, so that its count stays that of what it holds.
func TestLogCacheStartsOver(t *testing.T) {
	under := &countingStore{LogStore: raft.NewInmemStore()}
	c := newLogCache(under, 8, 1<<20)
	sizes := map[uint64]int{}
	for i := range uint64(3) {
		put(t, c, sizes, i+1, 10)
	}
	// A follower's conflicting tail goes, and a new entry 3 comes.
	if err := c.DeleteRange(3, 3); err != nil {
		t.Fatal(err)
	}
	if c.bytes != 0 {
		t.Errorf("after DeleteRange the cache holds %d bytes", c.bytes)
	}
	put(t, c, sizes, 3, 20)
	if got := cached(t, c, under, sizes, 1, 2, 3); fmt.Sprint(got) != "[3]" {
		t.Errorf("served from memory after the delete: %v, want [3]", got)
	}
	// Entry 2 again, without a delete first.
	put(t, c, sizes, 2, 30)
	if got := cached(t, c, under, sizes, 1, 2, 3); fmt.Sprint(got) != "[2]" {
		t.Errorf("served from memory after storing 2 again: %v, want [2]", got)
	}
	// A jump past the last entry.
	put(t, c, sizes, 100, 40)
	put(t, c, sizes, 101, 40)
	if got := cached(t, c, under, sizes, 2, 100, 101); fmt.Sprint(got) != "[100 101]" {
		t.Errorf("served from memory after a jump: %v, want [100 101]", got)
	}
}

// TestLogCacheConcurrentReads: raft reads entries (replication, a
// follower's applies) while it stores new ones. Run with -race.
func TestLogCacheConcurrentReads(t *testing.T) {
	c := newLogCache(raft.NewInmemStore(), 16, 8<<10)
	const n = 2000
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var l raft.Log
			for i := uint64(1); i <= n; i++ {
				if err := c.GetLog(i, &l); err == nil && (l.Index != i || len(l.Data) != int(i%512)) {
					t.Errorf("GetLog(%d) = entry %d of %d bytes", i, l.Index, len(l.Data))
					return
				}
			}
		})
	}
	for i := uint64(1); i <= n; i++ {
		if err := c.StoreLogs([]*raft.Log{dataLog(i, int(i%512))}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	checkWeight(t, c)
}

// TestLogCacheReleasesFutures: the cache serves entries without keeping
// alive what held them, as raft's apply futures hold a leader's new
// entries; raft.LogCache keeps them.
func TestLogCacheReleasesFutures(t *testing.T) {
	type future struct {
		log      raft.Log
		response []byte // stands for an ApplyResponse
	}
	bare, err := raft.NewLogCache(16, raft.NewInmemStore())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		store    raft.LogStore
		wantKept bool
	}{
		{"logCache", newLogCache(raft.NewInmemStore(), 16, 1<<20), false},
		{"raft.LogCache", bare, true}, // the leak this guards against
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &future{log: raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("entry")}, response: make([]byte, 1<<20)}
			if err := tt.store.StoreLogs([]*raft.Log{&f.log}); err != nil {
				t.Fatal(err)
			}
			held := weak.Make(f)
			f = nil
			runtime.GC()
			runtime.GC()
			if kept := held.Value() != nil; kept != tt.wantKept {
				t.Errorf("future kept alive by the cache = %v, want %v", kept, tt.wantKept)
			}
			var got raft.Log
			if err := tt.store.GetLog(1, &got); err != nil || string(got.Data) != "entry" || got.Term != 1 {
				t.Errorf("GetLog(1) = %+v, %v, want the entry stored", got, err)
			}
		})
	}
	// Raft asks its log store whether it is monotonic; the wrapper must
	// pass the answer on.
	if newLogCache(raft.NewInmemStore(), 4, 1<<20).IsMonotonic() {
		t.Error("IsMonotonic() over an in-memory store = true, want false")
	}
	if !newLogCache(monotonic{raft.NewInmemStore()}, 4, 1<<20).IsMonotonic() {
		t.Error("IsMonotonic() over a monotonic store = false, want true")
	}
}

type monotonic struct{ raft.LogStore }

func (monotonic) IsMonotonic() bool { return true }
