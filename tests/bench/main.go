// Command bench measures Roost's write path on a three-node cluster on
// loopback, with fsync on, through gRPC: acknowledged single-operation
// writes per second and their latency at several client counts, batched
// operations per second, and the commit floor of this disk and loopback
// measured in the same run. Single writes go as unary calls and, with
// -stream (the default), on Write streams, one per client. Each client
// count, and the Batch row, gets a new cluster (loaded with -prefill
// mailboxes first), so that no row's figure depends on what ran before.
//
//	go run ./tests/bench [-clients 1,16,64,256] [-duration 5s] [-dir DIR] [-via leader,follower,all]
//	    [-unary=false] [-stream=false] [-store] [-prefill N] [-cpuprofile FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/tests/internal/floor"
	"google.golang.org/grpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type config struct {
	clients    []int
	duration   time.Duration
	dir        string
	batchSize  int
	batchConc  int
	cpuProfile string
	inflight   int
	perConn    int
	store      bool
	via        string
	stream     bool
	unary      bool
	prefill    int
	raftStores []string
	security   []string
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var cfg config
	var clients string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&clients, "clients", "1,16,64,256", "comma-separated concurrent client counts")
	fs.DurationVar(&cfg.duration, "duration", 5*time.Second, "how long each measurement runs")
	fs.StringVar(&cfg.dir, "dir", "", "directory for the nodes' data (default: a temporary one); its disk is what is measured")
	fs.IntVar(&cfg.batchSize, "batch", 1000, "operations per Batch RPC")
	fs.IntVar(&cfg.batchConc, "batch-clients", 8, "concurrent Batch RPC clients (0: no Batch row)")
	fs.IntVar(&cfg.perConn, "clients-per-conn", 32, "clients sharing one gRPC connection")
	fs.IntVar(&cfg.inflight, "inflight", 0, "log entries in flight at once (0: the store's default)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write CPU profiles of the measured rows (not the prefill) to FILE.c<clients> and FILE.batch")
	fs.BoolVar(&cfg.store, "store", false, "also apply writes straight to the leader's store, without gRPC (the Raft pipeline's capacity)")
	fs.BoolVar(&cfg.unary, "unary", true, "send writes as unary calls")
	fs.BoolVar(&cfg.stream, "stream", true, "send writes on Write streams, one stream per client")
	fs.IntVar(&cfg.prefill, "prefill", 0, "mailboxes to load (in Batch RPCs) into each new cluster before measuring")
	fs.StringVar(&cfg.via, "via", "leader,follower", "comma-separated nodes the gRPC clients talk to: leader, follower, all (spread over the three); none for no gRPC rows")
	stores := fs.String("raft-store", "wal,boltdb", "comma-separated Raft log stores to measure, each on clusters of its own: wal, boltdb")
	sec := fs.String("tls", "plain", "comma-separated ways the clusters and clients connect, each on clusters of its own: plain, or mtls (mutual TLS on gRPC and Raft)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, st := range strings.Split(*stores, ",") {
		if _, err := raftfsm.ParseRaftStore(st); err != nil || st == "" || st == "auto" {
			return fmt.Errorf("bad -raft-store %q: wal or boltdb", st)
		}
		cfg.raftStores = append(cfg.raftStores, st)
	}
	for _, m := range strings.Split(*sec, ",") {
		if m != "plain" && m != "mtls" {
			return fmt.Errorf("bad -tls %q: plain or mtls", m)
		}
		cfg.security = append(cfg.security, m)
	}
	for _, v := range strings.Split(cfg.via, ",") {
		if !slices.Contains([]string{"leader", "follower", "all", "none"}, v) {
			return fmt.Errorf("bad -via %q: leader, follower, all or none", v)
		}
	}
	for _, c := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -clients %q", clients)
		}
		cfg.clients = append(cfg.clients, n)
	}
	if cfg.dir == "" {
		d, err := os.MkdirTemp("", "roost-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		cfg.dir = d
	}

	fmt.Fprintf(out, "a new cluster for each Raft log store and client count, holding %d mailboxes before its rows; floor: the commit floor\n", cfg.prefill)
	fmt.Fprintf(out, "(the fsyncs in a row of one replicated write, 2 with wal, 4 with boltdb, + 1 loopback round trip), measured on the same disk just before each cluster starts\n\n")
	fmt.Fprintln(out, "| store | clients | via | writes/s | p50 | p99 | floor | p50 / floor | ops per log entry | CPU per write | new terms |")
	fmt.Fprintln(out, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	// With no rows to measure, no cluster is worth starting for them.
	counts := cfg.clients
	if cfg.via == "none" && !cfg.store {
		counts = nil
	}
	secs := make([]*security, len(cfg.security))
	for i, m := range cfg.security {
		var err error
		if secs[i], err = newSecurity(m, filepath.Join(cfg.dir, "pki-"+m)); err != nil {
			return err
		}
		defer os.RemoveAll(secs[i].dir)
	}
	for _, store := range cfg.raftStores {
		for _, c := range counts {
			// Each way of connecting in turn at one client count, so
			// that their rows are minutes apart at most.
			for _, sec := range secs {
				// Measured for each cluster: the disk's latency drifts
				// over a run.
				fl, err := floor.Measure(cfg.dir, store)
				if err != nil {
					return err
				}
				if err := withCluster(ctx, cfg, sec, store, fmt.Sprintf("%s-%s-c%d", store, sec.mode, c), func(nodes []*node.Node, opt grpc.DialOption) error {
					return clientRows(ctx, cfg, sec.label(store), c, nodes, opt, fl, out)
				}); err != nil {
					return err
				}
			}
		}
	}
	if cfg.batchConc == 0 {
		return ctx.Err()
	}
	fmt.Fprintln(out)
	for _, store := range cfg.raftStores {
		for _, sec := range secs {
			if err := withCluster(ctx, cfg, sec, store, store+"-"+sec.mode+"-batch", func(nodes []*node.Node, opt grpc.DialOption) error {
				return batchRow(ctx, cfg, sec.label(store), nodes, opt, out)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchRow measures Batch RPCs through the leader and prints one line.
func batchRow(ctx context.Context, cfg config, store string, nodes []*node.Node, opt grpc.DialOption, out io.Writer) error {
	leader, _, err := roles(nodes)
	if err != nil {
		return err
	}
	term := maxTerm(nodes)
	r, err := batchLoad(ctx, opt, leader.GRPCAddr(), cfg.batchConc, cfg.batchSize, cfg.duration)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: Batch RPCs of %d operations, %d clients, via the leader: %.0f operations/s (p50 %v per RPC, CPU %v per operation, %d new terms)\n",
		store, cfg.batchSize, cfg.batchConc, r.rate, r.p50, r.cpu, maxTerm(nodes)-term)
	return nil
}

// withCluster runs measure against a cluster of its own, prefilled as
// configured, so that every client count starts from the same table
// whatever ran before it; the cluster's data goes when it is done. A CPU
// profile covers measure alone.
func withCluster(ctx context.Context, cfg config, sec *security, store, name string, measure func([]*node.Node, grpc.DialOption) error) error {
	dir := filepath.Join(cfg.dir, name)
	// What an interrupted run left would be a cluster that is not new.
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	nodes, err := startCluster(dir, cfg.inflight, raftfsm.RaftStore(store), sec)
	defer func() {
		for _, n := range nodes {
			n.Close()
		}
	}()
	if err != nil {
		return err
	}
	opt, err := sec.dialOption()
	if err != nil {
		return err
	}
	if cfg.prefill > 0 {
		leader, _, err := roles(nodes)
		if err != nil {
			return err
		}
		if err := prefill(ctx, opt, leader.GRPCAddr(), cfg.prefill); err != nil {
			return err
		}
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile + "." + name)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return measure(nodes, opt)
}

// clientRows measures c clients through each configured path, one row
// each, all against the same cluster.
func clientRows(ctx context.Context, cfg config, store string, c int, nodes []*node.Node, opt grpc.DialOption, fl floor.Floor, out io.Writer) error {
	leader, follower, err := roles(nodes)
	if err != nil {
		return err
	}
	// row runs one measurement and prints it, with the operations the
	// leader's log entries carried meanwhile (its group commit).
	row := func(via string, load func() (result, error)) error {
		before, err := entryOps(leader)
		if err != nil {
			return err
		}
		term := maxTerm(nodes)
		r, err := load()
		if err != nil {
			return err
		}
		after, err := entryOps(leader)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "| %s | %d | %s | %.0f | %v | %v | %v | %.2f | %.1f | %v | %d |\n", store, c, via, r.rate, r.p50, r.p99,
			fl.Total().Round(time.Microsecond), float64(r.p50)/float64(fl.Total()), after.since(before), r.cpu, maxTerm(nodes)-term)
		return nil
	}
	for _, target := range []struct {
		via   string
		addrs []string
	}{
		{"leader", []string{leader.GRPCAddr()}},
		{"follower", []string{follower.GRPCAddr()}},
		{"all", []string{nodes[0].GRPCAddr(), nodes[1].GRPCAddr(), nodes[2].GRPCAddr()}},
	} {
		if !slices.Contains(strings.Split(cfg.via, ","), target.via) {
			continue
		}
		if cfg.unary {
			if err := row(target.via, func() (result, error) {
				return writeLoad(ctx, opt, target.addrs, c, cfg.perConn, cfg.duration, fmt.Sprintf("%s.c%d", target.via, c))
			}); err != nil {
				return err
			}
		}
		if cfg.stream {
			if err := row(target.via+", Write stream", func() (result, error) {
				return streamLoad(ctx, opt, target.addrs, c, cfg.perConn, cfg.duration, fmt.Sprintf("%s.stream.c%d", target.via, c))
			}); err != nil {
				return err
			}
		}
	}
	if cfg.store {
		return row("leader's store, no gRPC", func() (result, error) {
			return storeLoad(ctx, leader.Store(), c, cfg.duration, fmt.Sprintf("store.c%d", c))
		})
	}
	return nil
}

var errNoLeader = errors.New("no leader elected")
