package raftfsm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/migrate"
	"github.com/roost-mail/roost/raftfsm/internal/hclogslog"
)

// The stable store's keys, as hashicorp/raft writes them (raft.go).
var (
	stableUintKeys = [][]byte{[]byte("CurrentTerm"), []byte("LastVoteTerm")}
	stableKeys     = [][]byte{[]byte("LastVoteCand")}
)

// convertBatchBytes is how much log data each append of a conversion
// carries.
const convertBatchBytes = 4 << 20

// ConvertStore converts the Raft log and stable store in dir, a stopped
// node's data directory, to the store named to. It copies the log and the
// term and vote into a new store built beside the old one, reads both back
// and compares them, and only once the new store is closed and synced
// moves the old one aside (raft.db.converted or wal.converted). Until that
// rename the directory's store is the old one, so a crash on the way
// leaves the node as it was, and converting again starts over. Snapshots
// are shared by both stores and stay where they are.
//
// A running node is refused (ErrStoreInUse), as is a directory already on
// to or with no store (ErrNothingToConvert), or one where the name to
// move the old store to is taken.
func ConvertStore(ctx context.Context, dir string, to RaftStore, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if to != RaftStoreWAL && to != RaftStoreBoltDB {
		return fmt.Errorf("raftfsm: convert to %q: want %s or %s", to, RaftStoreWAL, RaftStoreBoltDB)
	}
	from, err := heldStore(dir)
	switch {
	case err != nil:
		return err
	case from == RaftStoreAuto:
		return fmt.Errorf("%w: %s holds no Raft store", ErrNothingToConvert, dir)
	case from == to:
		return fmt.Errorf("%w: %s already uses %s (%s)", ErrNothingToConvert, dir, to, storePath(dir, to))
	}
	// Taken once the directory is known to hold a store, so that a
	// mistyped path gets no lock file.
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.unlock()
	oldPath, newPath := storePath(dir, from), storePath(dir, to)
	aside := oldPath + convertedSuffix
	if exists(aside) {
		return fmt.Errorf("raftfsm: %s exists, from an earlier conversion; move it away first", aside)
	}
	hl := hclogslog.New(logger.With("component", "raft"), hclog.Info)
	src, err := openRaftStore(from, oldPath, hl)
	if err != nil {
		return err
	}
	first, last, err := replaceCopy(ctx, src, to, newPath, hl)
	if cerr := src.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("raftfsm: close %s: %w", oldPath, cerr)
	}
	if err != nil {
		return err
	}
	// The new store is complete and durable: make it the directory's.
	// From raft.db to wal the commit point is raft.db's move aside; the
	// other way, raft.db's arrival (it wins over a wal beside it).
	for _, mv := range [][2]string{{newPath + convertingSuffix, newPath}, {oldPath, aside}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			return fmt.Errorf("raftfsm: %w", err)
		}
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	logger.Info("converted the Raft log store", "from", string(from), "to", string(to),
		"path", newPath, "first_index", first, "last_index", last, "old", aside)
	return nil
}

// replaceCopy copies src into a new store of kind, to be at newPath, in
// newPath.converting, checks the copy and closes it, and returns the log's
// first and last index.
func replaceCopy(ctx context.Context, src *raftStore, kind RaftStore, newPath string, hl hclog.Logger) (first, last uint64, err error) {
	// A half-built store from an interrupted conversion, or a stale wal
	// beside the raft.db that won over it: the old store is the node's.
	building := newPath + convertingSuffix
	for _, p := range []string{building, newPath} {
		if err := os.RemoveAll(p); err != nil {
			return 0, 0, fmt.Errorf("raftfsm: %w", err)
		}
	}
	dst, err := openRaftStore(kind, building, hl)
	if err != nil {
		return 0, 0, err
	}
	first, last, err = copyStore(ctx, dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil && kind == RaftStoreWAL {
		err = syncDir(building) // raft-wal syncs its files, not always its directory
	}
	if err != nil {
		os.RemoveAll(building)
	}
	return first, last, err
}

// copyStore copies the log and the stable keys, then compares the copy
// with the original.
func copyStore(ctx context.Context, dst, src *raftStore) (first, last uint64, err error) {
	if first, err = src.FirstIndex(); err != nil {
		return 0, 0, fmt.Errorf("raftfsm: %w", err)
	}
	if last, err = src.LastIndex(); err != nil {
		return 0, 0, fmt.Errorf("raftfsm: %w", err)
	}
	if last > 0 { // CopyLogs asks an empty log for entry 0
		if err := migrate.CopyLogs(ctx, dst, src, convertBatchBytes, nil); err != nil {
			return 0, 0, fmt.Errorf("raftfsm: copy log: %w", err)
		}
	}
	// Not migrate.CopyStable: it fails on a key BoltDB never got, as a
	// node that never voted has no vote.
	for _, k := range stableUintKeys {
		if v, ok, err := getUint64(src, k); err != nil {
			return 0, 0, err
		} else if ok {
			if err := dst.SetUint64(k, v); err != nil {
				return 0, 0, fmt.Errorf("raftfsm: copy %s: %w", k, err)
			}
		}
	}
	for _, k := range stableKeys {
		if v, ok, err := get(src, k); err != nil {
			return 0, 0, err
		} else if ok {
			if err := dst.Set(k, v); err != nil {
				return 0, 0, fmt.Errorf("raftfsm: copy %s: %w", k, err)
			}
		}
	}
	return first, last, verifyCopy(ctx, dst, src, first, last)
}

// verifyCopy reads both stores back: the same bounds, entries and keys.
func verifyCopy(ctx context.Context, dst, src *raftStore, first, last uint64) error {
	df, err := dst.FirstIndex()
	if err != nil {
		return fmt.Errorf("raftfsm: verify: %w", err)
	}
	dl, err := dst.LastIndex()
	if err != nil {
		return fmt.Errorf("raftfsm: verify: %w", err)
	}
	if df != first || dl != last {
		return fmt.Errorf("raftfsm: verify: the copy holds entries %d to %d, want %d to %d", df, dl, first, last)
	}
	for i := first; last > 0 && i <= last; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var a, b raft.Log
		if err := src.GetLog(i, &a); err != nil {
			return fmt.Errorf("raftfsm: verify: entry %d: %w", i, err)
		}
		if err := dst.GetLog(i, &b); err != nil {
			return fmt.Errorf("raftfsm: verify: copied entry %d: %w", i, err)
		}
		if !sameLog(&a, &b) {
			return fmt.Errorf("raftfsm: verify: entry %d differs in the copy", i)
		}
	}
	for _, k := range stableUintKeys {
		a, _, err := getUint64(src, k)
		if err != nil {
			return err
		}
		if b, _, err := getUint64(dst, k); err != nil || a != b {
			return fmt.Errorf("raftfsm: verify: %s is %d in the copy, want %d (%v)", k, b, a, err)
		}
	}
	for _, k := range stableKeys {
		a, _, err := get(src, k)
		if err != nil {
			return err
		}
		if b, _, err := get(dst, k); err != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("raftfsm: verify: %s is %q in the copy, want %q (%v)", k, b, a, err)
		}
	}
	return nil
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

// getUint64 and get read a stable key, and whether it was set: BoltDB
// answers "not found" for a key never set, raft-wal zero or empty.
func getUint64(s raft.StableStore, k []byte) (uint64, bool, error) {
	v, err := s.GetUint64(k)
	if isNotFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("raftfsm: read %s: %w", k, err)
	}
	return v, v != 0, nil
}

func get(s raft.StableStore, k []byte) ([]byte, bool, error) {
	v, err := s.Get(k)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raftfsm: read %s: %w", k, err)
	}
	return v, len(v) > 0, nil
}

// isNotFound recognises a missing key as hashicorp/raft itself does.
func isNotFound(err error) bool { return err != nil && err.Error() == "not found" }

// syncDir makes the names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("raftfsm: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftfsm: sync %s: %w", filepath.Clean(dir), err)
	}
	return nil
}
