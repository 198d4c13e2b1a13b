// Command roostd runs one node of a Roost cluster: the replicated
// mailbox-location database behind a gRPC API.
//
// With no flags at all it runs a single-node cluster on loopback with its
// data in ./roost-data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp): // -h: the usage was asked for
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "roostd:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "roostd:", err)
		os.Exit(1)
	}
}

// errVersion is parseFlags asked for the build, which run prints.
var errVersion = errors.New("--version")

// usageError is a command line roostd cannot run with: exit status 2, as
// against 1 for a node that could not start or stopped on an error.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run parses flags, starts the node and stops it when ctx ends; or, with
// convert-store first, converts a stopped node's Raft store.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "convert-store" {
		return runConvert(ctx, args[1:], stderr)
	}
	cfg, logLevel, logJSON, err := parseFlags(args, stderr)
	if errors.Is(err, errVersion) {
		_, err = fmt.Fprintln(stdout, "roostd", buildinfo.Read())
		return err
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	cfg.Logger = newLogger(stderr, logLevel, logJSON)
	// Registered before the node starts, so that an early SIGHUP never
	// kills it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	n, err := node.Start(cfg)
	if err != nil {
		return err
	}
	for {
		select {
		case <-hup:
			cfg.Logger.Info("SIGHUP: reloading certificates and users")
			n.Reload() // errors are logged; the old files stay in use
		case <-ctx.Done():
			return shutdown(n, cfg.Logger, stopTimeout)
		}
	}
}

// stopTimeout bounds a clean stop: a leader that cannot hand over, a
// store that cannot sync or a client that never reads must not keep a
// node from stopping.
const stopTimeout = 15 * time.Second

// shutdown closes n, giving up after timeout or at a second SIGTERM or
// SIGINT: the process then exits with what has not been closed, which
// loses no acknowledged write (each was synced before it was answered).
func shutdown(n *node.Node, logger *slog.Logger, timeout time.Duration) error {
	logger.Info("shutting down")
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("did not stop within %v; exiting anyway", timeout)
	case sig := <-again:
		return fmt.Errorf("%v during shutdown; exiting at once", sig)
	}
}

func newLogger(w io.Writer, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseFlags(args []string, stderr io.Writer) (node.Config, slog.Level, bool, error) {
	var cfg node.Config
	var join, level, format, store string
	fs := flag.NewFlagSet("roostd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.NodeID, "node-id", "node1", "this node's permanent, cluster-unique ID")
	fs.StringVar(&cfg.DataDir, "data-dir", "roost-data", "directory for the Raft log, stable store and snapshots")
	fs.StringVar(&store, "raft-store", "auto", "Raft log store of a new data directory: wal or boltdb; auto: what the directory holds, else wal")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", "127.0.0.1:3907", "Raft transport listen address")
	fs.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "Raft address other nodes dial (default: --raft-addr)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:3906", "gRPC API listen address")
	fs.StringVar(&cfg.GRPCAdvertise, "grpc-advertise", "", "gRPC address other nodes dial (default: --grpc-addr)")
	fs.StringVar(&cfg.MupdateAddr, "mupdate-addr", "127.0.0.1:3905", "MUPDATE (RFC 3656) listen address for Cyrus backends and frontends (empty: none)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate of this node (OU=node), for gRPC, Raft and, without --mupdate-tls-cert, MUPDATE")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM key for --tls-cert")
	fs.StringVar(&cfg.TLSCA, "tls-ca", "", "PEM certificate of the cluster's CA, which every node and client certificate must be signed by")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "without TLS, serve gRPC and Raft beyond loopback anyway, to anyone, as an admin")
	fs.DurationVar(&cfg.ReloadInterval, "reload-interval", node.DefaultReloadInterval, "how often to look for changed certificates and users file (SIGHUP reloads at once; negative: only then)")
	fs.StringVar(&cfg.UsersFile, "users-file", "", "users of MUPDATE and of gRPC over TLS, one name:{SCHEME}secret:role per line (default: <data-dir>/mupdate-users, created with a random admin password)")
	fs.StringVar(&cfg.MupdateTLSCert, "mupdate-tls-cert", "", "PEM certificate for MUPDATE STARTTLS and --mupdate-tls-addr (default: --tls-cert)")
	fs.StringVar(&cfg.MupdateTLSKey, "mupdate-tls-key", "", "PEM key for --mupdate-tls-cert (default: --tls-key)")
	fs.StringVar(&cfg.MupdateTLSAddr, "mupdate-tls-addr", "", "MUPDATE listener that starts TLS at once (Cyrus: mupdate_server host:port/tls)")
	fs.BoolVar(&cfg.MupdateRequireTLS, "mupdate-require-tls", false, "offer no SASL mechanism before STARTTLS (makes Cyrus clients encrypt)")
	fs.IntVar(&cfg.MupdateMaxConns, "mupdate-max-conns", 128, "MUPDATE connections at once; more are refused as Cyrus refuses them (its mupdate_connections_max)")
	fs.BoolVar(&cfg.MupdateLinearizableReads, "mupdate-linearizable-reads", false, "confirm every MUPDATE read with the leader first, so that it shows every write any client was answered OK for (off: each connection sees its own)")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:3908", "HTTP address for /metrics, /healthz and /readyz (empty: none)")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "also serve Go's profiles on --http-addr, at /debug/pprof/")
	fs.BoolVar(&cfg.Bootstrap, "bootstrap", false, "start a new cluster with this node as its first voter (default: true when --join is not given)")
	fs.StringVar(&join, "join", "", "comma-separated gRPC addresses of cluster members to ask to add this node")
	fs.BoolVar(&cfg.JoinAsNonvoter, "nonvoter", false, "with --join: join as a non-voter")
	fs.DurationVar(&cfg.Store.HeartbeatTimeout, "raft-heartbeat-timeout", raftfsm.DefaultHeartbeatTimeout, "Raft heartbeat timeout")
	fs.DurationVar(&cfg.Store.ElectionTimeout, "raft-election-timeout", raftfsm.DefaultElectionTimeout, "Raft election timeout")
	fs.DurationVar(&cfg.Store.LeaderLeaseTimeout, "raft-lease-timeout", raftfsm.DefaultLeaderLeaseTimeout, "Raft leader lease timeout (at most the heartbeat timeout)")
	fs.Uint64Var(&cfg.Store.SnapshotThreshold, "snapshot-threshold", 8192, "snapshot after this many new log entries")
	fs.DurationVar(&cfg.Store.SnapshotInterval, "snapshot-interval", 30*time.Second, "how often to check the snapshot threshold")
	fs.IntVar(&cfg.Store.HistorySize, "history-size", raftfsm.DefaultHistorySize, "recent changes kept for watchers to resume from")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&format, "log-format", "text", "text or json")
	version := fs.Bool("version", false, "print the build and exit")
	if err := fs.Parse(args); err != nil {
		return cfg, 0, false, err
	}
	if *version {
		return cfg, 0, false, errVersion
	}
	if fs.NArg() > 0 {
		return cfg, 0, false, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.Store.RaftStore, err = raftfsm.ParseRaftStore(store); err != nil {
		return cfg, 0, false, fmt.Errorf("--raft-store: %w", err)
	}
	if join != "" {
		cfg.Join = strings.Split(join, ",")
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "bootstrap" })
	if !explicit {
		// A node told to join must never found a cluster of its own.
		cfg.Bootstrap = len(cfg.Join) == 0
	}
	if cfg.MupdateMaxConns < 1 {
		return cfg, 0, false, errors.New("--mupdate-max-conns must be at least 1")
	}
	if cfg.Bootstrap && len(cfg.Join) > 0 {
		return cfg, 0, false, errors.New("--bootstrap and --join exclude each other")
	}
	if err := cfg.Check(); err != nil {
		return cfg, 0, false, err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return cfg, 0, false, fmt.Errorf("--log-level: %w", err)
	}
	if format != "text" && format != "json" {
		return cfg, 0, false, fmt.Errorf("--log-format must be text or json")
	}
	return cfg, lv, format == "json", nil
}
