package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRun runs the bench briefly with every kind of row, so that the
// command docs/benchmarks.md gives keeps working: every row must be
// there and carry acknowledged writes through its path, in log entries
// the leader counted.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := t.TempDir()
	err := run(ctx, []string{"-clients", "1,4", "-duration", "300ms", "-via", "leader,follower,all",
		"-store", "-prefill", "1500", "-batch-clients", "2", "-batch", "20", "-dir", dir}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	// Each cluster's nodes are closed and their data removed.
	if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
		t.Errorf("the run left %v in its -dir (%v)", left, err)
	}

	if !strings.Contains(out.String(), "a new cluster for each Raft log store and client count, holding 1500 mailboxes before its rows") {
		t.Errorf("no prefill line")
	}
	// | store | clients | via | writes/s | p50 | p99 | floor | p50 / floor | ops per log entry | CPU per write | new terms |
	rowRE := regexp.MustCompile(`(?m)^\| (\w+) \| (\d+) \| ([^|]+) \| (\d+) \| [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| ([\d.]+) \| [^|]+ \| \d+ \|$`)
	seen := map[string]bool{}
	for _, m := range rowRE.FindAllStringSubmatch(out.String(), -1) {
		key := m[1] + " " + m[2] + " " + strings.TrimSpace(m[3])
		seen[key] = true
		if rate, _ := strconv.Atoi(m[4]); rate == 0 {
			t.Errorf("row %q: no writes", key)
		}
		// Writes through the leader go into its entries, one at least
		// each; followers' forwarded ones too.
		if ops, _ := strconv.ParseFloat(m[5], 64); ops < 1 {
			t.Errorf("row %q: %v operations per log entry", key, ops)
		}
	}
	for _, store := range []string{"wal", "boltdb"} {
		for _, c := range []string{"1", "4"} {
			for _, via := range []string{"leader", "leader, Write stream", "follower", "follower, Write stream",
				"all", "all, Write stream", "leader's store, no gRPC"} {
				if !seen[store+" "+c+" "+via] {
					t.Errorf("no row for %s, %s clients via %s", store, c, via)
				}
			}
		}
		batch := regexp.MustCompile(store + `: Batch RPCs of 20 operations, 2 clients, via the leader: (\d+) operations/s`).FindStringSubmatch(out.String())
		if batch == nil {
			t.Fatalf("no Batch line for %s", store)
		}
		if rate, _ := strconv.Atoi(batch[1]); rate == 0 {
			t.Errorf("Batch row, %s: no operations", store)
		}
	}
}

// TestRunTLS runs the command's mutual-TLS rows: the clients, the nodes'
// forwarding and Raft all go over TLS, and writes get through.
func TestRunTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	dir := t.TempDir()
	err := run(ctx, []string{"-raft-store", "wal", "-tls", "plain,mtls", "-clients", "2", "-duration", "300ms", "-via", "follower",
		"-stream=false", "-batch-clients", "0", "-dir", dir}, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, store := range []string{"wal", "wal, mTLS"} {
		row := regexp.MustCompile(`(?m)^\| ` + store + ` \| 2 \| follower \| (\d+) \|`).FindStringSubmatch(out.String())
		if row == nil {
			t.Fatalf("no row for %s", store)
		}
		if rate, _ := strconv.Atoi(row[1]); rate == 0 {
			t.Errorf("row %s: no writes", store)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
		t.Errorf("the run left %v in its -dir (%v)", left, err)
	}
	if err := run(ctx, []string{"-tls", "mtls,tls"}, &out); err == nil {
		t.Error("-tls tls was taken")
	}
}
