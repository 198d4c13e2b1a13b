package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestDefaults: roostd with no flags is the README's single node on
// loopback, bootstrapping a cluster of its own, with its data in
// ./roost-data; roostctl's default endpoint is its gRPC address.
func TestDefaults(t *testing.T) {
	cfg, _, _, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"node ID":  {cfg.NodeID, "node1"},
		"data dir": {cfg.DataDir, "roost-data"},
		"gRPC":     {cfg.GRPCAddr, "127.0.0.1:3906"},
		"Raft":     {cfg.RaftAddr, "127.0.0.1:3907"},
		"MUPDATE":  {cfg.MupdateAddr, "127.0.0.1:3905"},
		"HTTP":     {cfg.HTTPAddr, "127.0.0.1:3908"},
	}
	for what, v := range want {
		if v[0] != v[1] {
			t.Errorf("default %s = %q, want %q", what, v[0], v[1])
		}
	}
	if !cfg.Bootstrap || len(cfg.Join) > 0 {
		t.Errorf("default bootstrap %v, join %q: want a cluster of its own", cfg.Bootstrap, cfg.Join)
	}
	if cfg.MupdateLinearizableReads {
		t.Error("MUPDATE reads are linearizable by default, want read-your-writes only")
	}
	if cfg, _, _, err := parseFlags([]string{"--mupdate-linearizable-reads"}, io.Discard); err != nil || !cfg.MupdateLinearizableReads {
		t.Errorf("--mupdate-linearizable-reads: %v, %v; want it on", cfg.MupdateLinearizableReads, err)
	}
	cfg, _, _, err = parseFlags([]string{"--join", "10.0.0.1:3906,10.0.0.2:3906"}, io.Discard)
	if err != nil || cfg.Bootstrap || !slices.Equal(cfg.Join, []string{"10.0.0.1:3906", "10.0.0.2:3906"}) {
		t.Errorf("--join: bootstrap %v, join %q, %v: want no bootstrap and both addresses", cfg.Bootstrap, cfg.Join, err)
	}
}

// TestUsageErrors: a command line roostd cannot run with is a usage
// error (exit status 2) and starts nothing; -h is not an error.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"extra"},
		{"--bootstrap", "--join", "127.0.0.1:3906"},
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--mupdate-max-conns", "0"},
		{"--tls-cert", "node.crt"},
		{"--mupdate-tls-cert", "m.crt"},
		{"--mupdate-require-tls"},
		{"--grpc-addr", "0.0.0.0:3906"},
		{"--raft-addr", ":3907"},
		{"--raft-addr", "127.0.0.1:99999"},
		{"--http-addr", "127.0.0.1"},
		{"--join", "nohost"},
		{"--raft-lease-timeout", "1s"},
		{"--raft-heartbeat-timeout", "1ms"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("roostd %q: %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("roostd -h: %v, want flag.ErrHelp", err)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--version"}, &out, io.Discard); err != nil {
		t.Fatalf("roostd --version: %v", err)
	}
	if got := out.String(); !strings.HasPrefix(got, "roostd ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("roostd --version printed %q", got)
	}
}
