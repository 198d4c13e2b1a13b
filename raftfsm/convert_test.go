package raftfsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// storeState is what a conversion must keep: the log, term and vote.
type storeState struct {
	first, last uint64
	entries     []raft.Log
	stable      []string
}

// readStoreState reads a stopped node's store.
func readStoreState(t *testing.T, dir string) storeState {
	t.Helper()
	kind, err := heldStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openRaftStore(kind, storePath(dir, kind), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var s storeState
	s.first, _ = st.FirstIndex()
	s.last, _ = st.LastIndex()
	for i := s.first; s.last > 0 && i <= s.last; i++ {
		var l raft.Log
		if err := st.GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d) = %v", i, err)
		}
		s.entries = append(s.entries, l)
	}
	for _, k := range stableUintKeys {
		v, ok, err := getUint64(st, k)
		s.stable = append(s.stable, fmt.Sprint(string(k), v, ok, err))
	}
	for _, k := range stableKeys {
		v, ok, err := get(st, k)
		s.stable = append(s.stable, fmt.Sprint(string(k), string(v), ok, err))
	}
	return s
}

func (a storeState) diff(b storeState) error {
	if a.first != b.first || a.last != b.last || len(a.entries) != len(b.entries) {
		return fmt.Errorf("entries %d to %d (%d), want %d to %d (%d)", a.first, a.last, len(a.entries), b.first, b.last, len(b.entries))
	}
	for i := range a.entries {
		if !sameLog(&a.entries[i], &b.entries[i]) {
			return fmt.Errorf("entry %d differs", a.entries[i].Index)
		}
	}
	if fmt.Sprint(a.stable) != fmt.Sprint(b.stable) {
		return fmt.Errorf("stable keys %q, want %q", a.stable, b.stable)
	}
	return nil
}

// TestConvertStore: a node with a log (a prefix of it compacted away after
// a snapshot) converted to the other store and back opens with the same
// log, term, vote and database each time, and takes new writes. Converting
// to the store it has, or where the old store's parking name is taken,
// changes nothing.
func TestConvertStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{NodeID: "n1", Dir: dir, RaftAddr: "127.0.0.1:0", Bootstrap: true, RaftStore: RaftStoreBoltDB,
		SnapshotThreshold: 20, TrailingLogs: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WaitLeader(t.Context()); err != nil {
		t.Fatal(err)
	}
	writeMailboxes(t, s, "before", 30)
	if err := s.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	writeMailboxes(t, s, "after", 10)
	want := storeListing(s)
	closeStore(t, s)

	n := 0
	for _, step := range []struct {
		to     RaftStore
		parked string
	}{
		{RaftStoreWAL, boltFile + convertedSuffix},
		{RaftStoreBoltDB, walDir + convertedSuffix},
	} {
		before := readStoreState(t, dir)
		if before.first <= 1 {
			t.Fatalf("the log starts at %d: the test wants a compacted one", before.first)
		}
		if err := ConvertStore(t.Context(), dir, step.to, nil); err != nil {
			t.Fatalf("ConvertStore(%s) = %v", step.to, err)
		}
		if held, _ := heldStore(dir); held != step.to {
			t.Fatalf("after ConvertStore(%s) the directory holds %q", step.to, held)
		}
		if !exists(filepath.Join(dir, step.parked)) || exists(storePath(dir, step.to)+convertingSuffix) {
			t.Errorf("after ConvertStore(%s): want %s and no %s", step.to, step.parked, convertingSuffix)
		}
		if err := readStoreState(t, dir).diff(before); err != nil {
			t.Fatalf("after ConvertStore(%s): %v", step.to, err)
		}
		if err := ConvertStore(t.Context(), dir, step.to, nil); !errors.Is(err, ErrNothingToConvert) {
			t.Errorf("ConvertStore(%s) again = %v, want ErrNothingToConvert", step.to, err)
		}

		s := openTestStore(t, dir, RaftStoreAuto)
		if s.logStore.kind != step.to {
			t.Fatalf("a converted node opened %s, want %s", s.logStore.kind, step.to)
		}
		if got := storeListing(s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("a node converted to %s lists %q, want %q", step.to, got, want)
		}
		writeMailboxes(t, s, fmt.Sprintf("on-%s-", step.to), 5)
		want = storeListing(s)
		closeStore(t, s)
		n++
	}
	// raft.db.converted from the first conversion is in the way.
	before := readStoreState(t, dir)
	if err := ConvertStore(t.Context(), dir, RaftStoreWAL, nil); err == nil {
		t.Errorf("ConvertStore(wal) beside an old raft.db.converted = nil, want an error")
	}
	if err := readStoreState(t, dir).diff(before); err != nil || exists(storePath(dir, RaftStoreWAL)+convertingSuffix) {
		t.Errorf("a refused conversion changed the store: %v", err)
	}
}

// TestConvertStoreRefuses: a running node, a directory with no store and
// an unknown store are refused, and leave the directory as it was.
func TestConvertStoreRefuses(t *testing.T) {
	for _, kind := range []RaftStore{RaftStoreWAL, RaftStoreBoltDB} {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			s := openTestStore(t, dir, kind)
			to := RaftStoreWAL
			if kind == RaftStoreWAL {
				to = RaftStoreBoltDB
			}
			if err := ConvertStore(t.Context(), dir, to, nil); !errors.Is(err, ErrStoreInUse) {
				t.Errorf("ConvertStore(a running %s node, %s) = %v, want ErrStoreInUse", kind, to, err)
			}
			if exists(storePath(dir, to)) || exists(storePath(dir, to)+convertingSuffix) {
				t.Errorf("ConvertStore(a running node) made a %s store", to)
			}
			writeMailboxes(t, s, "still", 1) // and the node never noticed
		})
	}
	if err := ConvertStore(t.Context(), t.TempDir(), RaftStoreWAL, nil); !errors.Is(err, ErrNothingToConvert) {
		t.Errorf("ConvertStore(an empty dir) = %v, want ErrNothingToConvert", err)
	}
	if err := ConvertStore(t.Context(), t.TempDir(), "leveldb", nil); err == nil {
		t.Errorf("ConvertStore(to leveldb) = nil, want an error")
	}
}

// TestConvertStoreInterrupted: a conversion that stopped half-way, with a
// half-built store or a complete wal beside raft.db, leaves the node on
// raft.db, and converting again starts over.
func TestConvertStoreInterrupted(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir, RaftStoreBoltDB)
	writeMailboxes(t, s, "a", 5)
	want := storeListing(s)
	closeStore(t, s)
	// What a crash leaves: a wal with an older copy, and one half-built.
	for _, p := range []string{storePath(dir, RaftStoreWAL), storePath(dir, RaftStoreWAL) + convertingSuffix} {
		w, err := openWAL(p, hclog.NewNullLogger(), walSegmentSize)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogNoop}}); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	s = openTestStore(t, dir, RaftStoreAuto)
	if s.logStore.kind != RaftStoreBoltDB {
		t.Fatalf("after an interrupted conversion the node opened %s, want boltdb", s.logStore.kind)
	}
	closeStore(t, s)
	before := readStoreState(t, dir)
	if err := ConvertStore(t.Context(), dir, RaftStoreWAL, nil); err != nil {
		t.Fatal(err)
	}
	if err := readStoreState(t, dir).diff(before); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir, RaftStoreAuto)
	if got := storeListing(s); s.logStore.kind != RaftStoreWAL || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("converted again: %s listing %q, want wal listing %q", s.logStore.kind, got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, boltFile+convertedSuffix)); err != nil {
		t.Error(err)
	}
}

// TestConvertStoreNoVote: a follower that joined and never voted has no
// vote in BoltDB at all, which raft-wal's migrate.CopyStable would fail
// on; the conversion copies what there is.
func TestConvertStoreNoVote(t *testing.T) {
	dir := t.TempDir()
	b, err := openBolt(filepath.Join(dir, boltFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogConfiguration}, {Index: 2, Term: 4, Type: raft.LogNoop}}); err != nil {
		t.Fatal(err)
	}
	if err := b.SetUint64([]byte("CurrentTerm"), 4); err != nil {
		t.Fatal(err)
	}
	b.Close()
	before := readStoreState(t, dir)
	if err := ConvertStore(t.Context(), dir, RaftStoreWAL, nil); err != nil {
		t.Fatalf("ConvertStore(no vote) = %v", err)
	}
	if err := readStoreState(t, dir).diff(before); err != nil {
		t.Fatal(err)
	}
}
