package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/roost-mail/roost/raftfsm"
)

// runConvert is roostd convert-store: it converts a stopped node's Raft
// log and stable store to the other store (raftfsm.ConvertStore).
func runConvert(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("roostd convert-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", "roost-data", "the stopped node's data directory")
	to := fs.String("to", "", "the store to convert to: wal or boltdb")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("convert-store: unexpected arguments: %q", fs.Args())}
	}
	kind, err := raftfsm.ParseRaftStore(*to)
	if err != nil || kind == raftfsm.RaftStoreAuto {
		return usageError{errors.New("convert-store: --to must be wal or boltdb")}
	}
	return raftfsm.ConvertStore(ctx, *dir, kind, newLogger(stderr, slog.LevelInfo, false))
}
