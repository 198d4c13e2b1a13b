package raftfsm

import (
	"runtime"
	"testing"
	"weak"

	"github.com/hashicorp/raft"
)

// TestDetachedLogsReleaseFutures: the log cache serves entries stored
// through detachedLogs without keeping alive what held them, as raft's
// apply futures hold a leader's new entries.
func TestDetachedLogsReleaseFutures(t *testing.T) {
	type future struct {
		log      raft.Log
		response []byte // stands for an ApplyResponse
	}
	for _, tt := range []struct {
		name     string
		detached bool
		wantKept bool
	}{
		{"detached", true, false},
		{"bare cache", false, true}, // the leak this guards against
	} {
		t.Run(tt.name, func(t *testing.T) {
			cache, err := raft.NewLogCache(16, raft.NewInmemStore())
			if err != nil {
				t.Fatal(err)
			}
			var store raft.LogStore = cache
			if tt.detached {
				store = detachedLogs{cache}
			}
			f := &future{log: raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("entry")}, response: make([]byte, 1<<20)}
			if err := store.StoreLogs([]*raft.Log{&f.log}); err != nil {
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
			if err := store.GetLog(1, &got); err != nil || string(got.Data) != "entry" || got.Term != 1 {
				t.Errorf("GetLog(1) = %+v, %v, want the entry stored", got, err)
			}
		})
	}
	// Raft asks its log store whether it is monotonic; the wrapper must
	// pass the answer on.
	if (detachedLogs{raft.NewInmemStore()}).IsMonotonic() {
		t.Error("IsMonotonic() over an in-memory store = true, want false")
	}
	if !(detachedLogs{monotonic{raft.NewInmemStore()}}).IsMonotonic() {
		t.Error("IsMonotonic() over a monotonic store = false, want true")
	}
}

type monotonic struct{ raft.LogStore }

func (monotonic) IsMonotonic() bool { return true }
