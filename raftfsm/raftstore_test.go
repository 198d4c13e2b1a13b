package raftfsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// openTestStore starts a single-node store on dir with the given store
// choice and waits until it leads and has applied its log.
func openTestStore(t *testing.T, dir string, store RaftStore) *Store {
	t.Helper()
	s, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true, RaftStore: store,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open(%s, %q) = %v", dir, store, err)
	}
	t.Cleanup(func() { s.Close() })
	if _, _, err := s.WaitLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Raft().Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeMailboxes activates user.<prefix>0 to user.<prefix>n-1, one entry each.
func writeMailboxes(t *testing.T, s *Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Apply(t.Context(), []Op{activateOp(fmt.Sprintf("user.%s%d", prefix, i), loc1, testACL)}, false); err != nil {
			t.Fatal(err)
		}
	}
}

// storeListing is a store's whole database as comparable lines.
func storeListing(s *Store) []string {
	var out []string
	s.FSM().View().List(ListOptions{}, func(m Mailbox) bool {
		out = append(out, fmt.Sprintf("%s %v %s %d %d", m.Name, m.State, m.Location, m.CreateRevision, m.ModifyRevision))
		return true
	})
	return out
}

func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRaftStoreChoice: a new directory gets the store asked for, raft-wal
// by default; a directory keeps the store it holds across restarts; naming
// another one is refused with directions to convert, and opens nothing.
func TestRaftStoreChoice(t *testing.T) {
	for _, tc := range []struct {
		ask, want RaftStore
	}{
		{RaftStoreAuto, RaftStoreWAL},
		{RaftStoreWAL, RaftStoreWAL},
		{RaftStoreBoltDB, RaftStoreBoltDB},
	} {
		t.Run(fmt.Sprintf("new dir, %q", tc.ask), func(t *testing.T) {
			dir := t.TempDir()
			s := openTestStore(t, dir, tc.ask)
			if s.logStore.kind != tc.want {
				t.Fatalf("Open(new dir, %q) opened %s, want %s", tc.ask, s.logStore.kind, tc.want)
			}
			writeMailboxes(t, s, "a", 3)
			before := storeListing(s)
			closeStore(t, s)
			other := RaftStoreBoltDB
			if tc.want == RaftStoreBoltDB {
				other = RaftStoreWAL
			}
			if exists(storePath(dir, other)) {
				t.Errorf("Open(new dir, %q) also made %s", tc.ask, storePath(dir, other))
			}

			_, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", RaftStore: other})
			if !errors.Is(err, ErrStoreMismatch) || !strings.Contains(err.Error(), "convert-store") ||
				!strings.Contains(err.Error(), dir) {
				t.Errorf("Open(a %s dir, %q) = %v, want ErrStoreMismatch naming the directory and convert-store", tc.want, other, err)
			}
			if exists(storePath(dir, other)) {
				t.Errorf("the refused Open(%q) made %s", other, storePath(dir, other))
			}

			for _, ask := range []RaftStore{RaftStoreAuto, tc.want} {
				s := openTestStore(t, dir, ask)
				if s.logStore.kind != tc.want || !s.HadState() {
					t.Errorf("restart with %q opened %s (had state %v), want %s with state", ask, s.logStore.kind, s.HadState(), tc.want)
				}
				if got := storeListing(s); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Errorf("restart with %q lists %q, want %q", ask, got, before)
				}
				closeStore(t, s)
			}
		})
	}
}

// TestRaftStoreInUse: a second Open of a running node's directory is
// refused at once, naming the process that holds it, instead of hanging
// on the store's lock; once the first closes, the directory opens again.
func TestRaftStoreInUse(t *testing.T) {
	for _, kind := range []RaftStore{RaftStoreWAL, RaftStoreBoltDB} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			s := openTestStore(t, dir, kind)
			_, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0"})
			if !errors.Is(err, ErrStoreInUse) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
				t.Errorf("Open(a running %s node's dir) = %v, want ErrStoreInUse naming process %d", kind, err, os.Getpid())
			}
			closeStore(t, s)
			closeStore(t, openTestStore(t, dir, kind))
		})
	}
}

// TestLogCacheMonotonic: the log cache says what the store under it says,
// so raft clears a raft-wal log after installing a snapshot.
func TestLogCacheMonotonic(t *testing.T) {
	for kind, want := range map[RaftStore]bool{RaftStoreWAL: true, RaftStoreBoltDB: false} {
		st, err := openRaftStore(kind, storePath(t.TempDir(), kind), hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		if got := newLogCache(st.LogStore, 8, 1<<20).IsMonotonic(); got != want {
			t.Errorf("newLogCache(%s).IsMonotonic() = %v, want %v", kind, got, want)
		}
		st.Close()
	}
}

// TestWALSuffixTruncationRestart: raft deletes a follower's log suffix
// that conflicts with a new leader's and appends the leader's entries in
// its place; the log must then close and survive a restart, and take the
// next cut. Small segments put the cut inside a sealed segment, the case
// raft-wal v0.4.0 got wrong (issue 31, "sealed segment has no index block"
// at the next open; fixed in v0.4.1): against v0.4.0 this sequence does
// not get past the first Close.
func TestWALSuffixTruncationRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), walDir)
	const segment = 8 << 10
	open := func() *raftStore {
		t.Helper()
		w, err := openWAL(dir, hclog.NewNullLogger(), segment)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	entries := func(from, to, term uint64) []*raft.Log {
		var out []*raft.Log
		for i := from; i <= to; i++ {
			out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand,
				Data: []byte(fmt.Sprintf("%0300d", i*10+term))})
		}
		return out
	}
	// check reads the whole log back: entries 1 to last, with the terms
	// in terms (index → term, for the first index with that term on).
	check := func(w *raftStore, last uint64, termFrom map[uint64]uint64) {
		t.Helper()
		if l, err := w.LastIndex(); l != last || err != nil {
			t.Fatalf("LastIndex() = %d, %v, want %d", l, err, last)
		}
		term := uint64(0)
		for i := uint64(1); i <= last; i++ {
			if tm, ok := termFrom[i]; ok {
				term = tm
			}
			var l raft.Log
			if err := w.GetLog(i, &l); err != nil {
				t.Fatalf("GetLog(%d) = %v", i, err)
			}
			if l.Term != term || string(l.Data) != fmt.Sprintf("%0300d", i*10+term) {
				t.Fatalf("GetLog(%d) has term %d, data %.20q…, want term %d", i, l.Term, l.Data, term)
			}
		}
	}

	w := open()
	for i := uint64(1); i <= 200; i += 10 {
		if err := w.StoreLogs(entries(i, i+9, 1)); err != nil {
			t.Fatal(err)
		}
	}
	segments := func() int {
		m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
		return len(m)
	}
	if n := segments(); n < 4 {
		t.Fatalf("200 entries made %d segments, want at least 4 for the cut to cross some", n)
	}
	// A new leader's log agrees up to 120 only: the rest goes.
	if err := w.DeleteRange(121, 200); err != nil {
		t.Fatal(err)
	}
	if err := w.StoreLogs(entries(121, 150, 2)); err != nil {
		t.Fatal(err)
	}
	check(w, 150, map[uint64]uint64{1: 1, 121: 2})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = open()
	check(w, 150, map[uint64]uint64{1: 1, 121: 2})
	// And once more, cutting into what was written after the first cut.
	if err := w.DeleteRange(141, 150); err != nil {
		t.Fatal(err)
	}
	if err := w.StoreLogs(entries(141, 180, 3)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open()
	defer w.Close()
	check(w, 180, map[uint64]uint64{1: 1, 121: 2, 141: 3})
}

// TestHeldStoreInterrupted: raft.db wins over a wal directory beside it,
// which is what a conversion that stopped half-way leaves.
func TestHeldStoreInterrupted(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []RaftStore{RaftStoreWAL, RaftStoreBoltDB} {
		st, err := openRaftStore(kind, storePath(dir, kind), hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	if got, err := heldStore(dir); got != RaftStoreBoltDB || err != nil {
		t.Errorf("heldStore(raft.db and wal/) = %q, %v, want boltdb", got, err)
	}
	if err := os.Remove(filepath.Join(dir, boltFile)); err != nil {
		t.Fatal(err)
	}
	if got, err := heldStore(dir); got != RaftStoreWAL || err != nil {
		t.Errorf("heldStore(wal/) = %q, %v, want wal", got, err)
	}
}
