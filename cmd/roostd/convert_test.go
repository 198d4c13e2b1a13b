package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"testing"

	"github.com/roost-mail/roost/raftfsm"
)

// TestRaftStoreFlag: --raft-store defaults to what the directory holds,
// takes the two stores by name, and anything else is a usage error, as
// are convert-store command lines without a store to convert to.
func TestRaftStoreFlag(t *testing.T) {
	for arg, want := range map[string]raftfsm.RaftStore{"": raftfsm.RaftStoreAuto, "auto": raftfsm.RaftStoreAuto,
		"wal": raftfsm.RaftStoreWAL, "boltdb": raftfsm.RaftStoreBoltDB} {
		var args []string
		if arg != "" {
			args = []string{"--raft-store", arg}
		}
		cfg, _, _, err := parseFlags(args, io.Discard)
		if err != nil || cfg.Store.RaftStore != want {
			t.Errorf("parseFlags(%q) gave store %q, %v, want %q", args, cfg.Store.RaftStore, err, want)
		}
	}
	for _, args := range [][]string{
		{"--raft-store", "leveldb"},
		{"convert-store"},
		{"convert-store", "--to", "auto"},
		{"convert-store", "--to", "leveldb"},
		{"convert-store", "--to", "wal", "extra"},
		{"convert-store", "--bogus"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
			t.Errorf("roostd %q: %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"convert-store", "-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("roostd convert-store -h: %v, want flag.ErrHelp", err)
	}
}
