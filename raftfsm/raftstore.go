package raftfsm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"go.etcd.io/bbolt"
)

// RaftStore names the store that holds a node's Raft log and stable store
// (term and vote).
type RaftStore string

const (
	// RaftStoreAuto keeps whatever store the data directory holds, and
	// makes a new directory's raft-wal.
	RaftStoreAuto RaftStore = ""
	// RaftStoreWAL is hashicorp/raft-wal: segment files in <dir>/wal, one
	// fsync per append.
	RaftStoreWAL RaftStore = "wal"
	// RaftStoreBoltDB is raft-boltdb: one file, <dir>/raft.db, two
	// fdatasyncs per append.
	RaftStoreBoltDB RaftStore = "boltdb"
)

// The stores' names in a data directory.
const (
	boltFile = "raft.db"
	walDir   = "wal"
	// What a conversion leaves a store it replaced as, and builds the new
	// one in until it is complete.
	convertedSuffix  = ".converted"
	convertingSuffix = ".converting"
)

// storeLockTimeout bounds the wait for another process's lock on a store's
// BoltDB file: the process is running, and waiting longer will not help.
const storeLockTimeout = time.Second

// ParseRaftStore reads a store's name as roostd's --raft-store takes it:
// "wal", "boltdb", or "auto" or "" for RaftStoreAuto.
func ParseRaftStore(s string) (RaftStore, error) {
	switch RaftStore(s) {
	case "auto", RaftStoreAuto:
		return RaftStoreAuto, nil
	case RaftStoreWAL, RaftStoreBoltDB:
		return RaftStore(s), nil
	}
	return "", fmt.Errorf("raftfsm: unknown Raft store %q (want wal, boltdb or auto)", s)
}

// raftStore is an open log and stable store.
type raftStore struct {
	raft.LogStore
	raft.StableStore
	kind  RaftStore
	path  string
	close func() error
}

// Close closes the store; the log and stable store are one.
func (r *raftStore) Close() error { return r.close() }

// heldStore reports which store dir holds, RaftStoreAuto if none. A
// raft.db wins over a wal directory beside it: that is what an
// interrupted conversion leaves, with raft.db still the node's store.
func heldStore(dir string) (RaftStore, error) {
	for _, c := range []struct {
		kind RaftStore
		path string
	}{
		{RaftStoreBoltDB, filepath.Join(dir, boltFile)},
		{RaftStoreWAL, filepath.Join(dir, walDir, metadb.FileName)},
	} {
		_, err := os.Stat(c.path)
		if err == nil {
			return c.kind, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("raftfsm: %w", err)
		}
	}
	return RaftStoreAuto, nil
}

// chooseStore decides which store to open in dir: the one it holds,
// else the one asked for, else raft-wal. Asking for a store other than the
// one the directory holds is refused: opening a second, empty log beside
// the real one would make the node forget its state.
func chooseStore(dir string, want RaftStore) (RaftStore, error) {
	held, err := heldStore(dir)
	switch {
	case err != nil:
		return "", err
	case held == RaftStoreAuto && want == RaftStoreAuto:
		return RaftStoreWAL, nil
	case held == RaftStoreAuto:
		return want, nil
	case want == RaftStoreAuto || want == held:
		return held, nil
	}
	return "", fmt.Errorf("%w: %s holds a %s store (%s), not %s; to convert it, stop the node and run "+
		"roostd convert-store --data-dir %s --to %s, or start it with --raft-store %s (or auto)",
		ErrStoreMismatch, dir, held, storePath(dir, held), want, dir, want, held)
}

// storePath is where a store of kind lives in dir.
func storePath(dir string, kind RaftStore) string {
	if kind == RaftStoreBoltDB {
		return filepath.Join(dir, boltFile)
	}
	return filepath.Join(dir, walDir)
}

// openRaftStore opens (or creates) the store of kind at path.
func openRaftStore(kind RaftStore, path string, hl hclog.Logger) (*raftStore, error) {
	if kind == RaftStoreBoltDB {
		return openBolt(path)
	}
	return openWAL(path, hl, walSegmentSize)
}

func openBolt(path string) (*raftStore, error) {
	b, err := raftboltdb.New(raftboltdb.Options{
		Path: path,
		// The freelist is rebuilt at open instead of written at every
		// commit: fewer pages per fsync on the write path.
		BoltOptions: &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, Timeout: storeLockTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("raftfsm: open %s: %w", path, lockError(err))
	}
	return &raftStore{LogStore: b, StableStore: b, kind: RaftStoreBoltDB, path: path, close: b.Close}, nil
}

// walSegmentSize is the size raft-wal preallocates each segment file at
// (its default).
const walSegmentSize = 64 << 20

func openWAL(dir string, hl hclog.Logger, segmentSize int) (*raftStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftfsm: %w", err)
	}
	// raft-wal opens its meta file with no lock timeout: it would wait for
	// a running node forever. Ask first, as a reader, with one.
	meta := filepath.Join(dir, metadb.FileName)
	if _, err := os.Stat(meta); err == nil {
		db, err := bbolt.Open(meta, 0o600, &bbolt.Options{ReadOnly: true, Timeout: storeLockTimeout})
		if err != nil {
			return nil, fmt.Errorf("raftfsm: open %s: %w", meta, lockError(err))
		}
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("raftfsm: %w", err)
		}
	}
	w, err := wal.Open(dir, wal.WithLogger(hl.Named("wal")), wal.WithSegmentSize(segmentSize))
	if err != nil {
		return nil, fmt.Errorf("raftfsm: open %s: %w", dir, err)
	}
	return &raftStore{LogStore: w, StableStore: w, kind: RaftStoreWAL, path: dir, close: w.Close}, nil
}

// lockError says what bbolt's lock timeout means.
func lockError(err error) error {
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("%w (is the node running?)", ErrStoreInUse)
	}
	return err
}

var (
	_ raft.MonotonicLogStore = (*wal.WAL)(nil)
	_ raft.MonotonicLogStore = (*logCache)(nil)
)

// exists reports whether path names anything at all.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
