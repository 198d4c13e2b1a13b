package tests

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// testNode is an in-process node on loopback ports with its own data
// directory, which survives a stop so the node can be started again.
type testNode struct {
	id       string
	dir      string
	raftAddr string
	grpcAddr string
	// mupdateAddr is the node's MUPDATE listener; its users file has
	// the Cyrus peers' admin/secret as an admin.
	mupdateAddr string
	n           *node.Node // nil while stopped
	conn        *grpc.ClientConn
	// production runs the node with roostd's default store settings
	// instead of the quick timings and frequent snapshots of tests.
	production bool
	// tls, if set, gives the node's MUPDATE a certificate.
	tls *mupdateTLS
	// linearizable confirms every MUPDATE read with the leader.
	linearizable bool
	// store is the Raft log store of a new data directory (default:
	// the store's own default).
	store raftfsm.RaftStore
	// logger, if set, receives the node's logs.
	logger *slog.Logger
	// pki, if set, runs gRPC and Raft over mutual TLS with a node
	// certificate from it; the test's own connection is an admin's.
	pki *testPKI
	// users are more lines of the node's users file.
	users string
	// reload is the node's ReloadInterval (0: the default).
	reload time.Duration
}

// mupdateTLS is a node's MUPDATE TLS setup.
type mupdateTLS struct {
	cert, key string // PEM files
	addr      string // the implicit-TLS listener
	require   bool   // no mechanism before STARTTLS on the plain listener
}

// fastStore has raft timings short enough for tests, and snapshots every
// few entries so restarts and catch-up go through snapshots too.
func fastStore() raftfsm.Config {
	return raftfsm.Config{
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 200 * time.Millisecond,
		SnapshotThreshold:  64,
		SnapshotInterval:   200 * time.Millisecond,
		TrailingLogs:       32,
		ApplyTimeout:       5 * time.Second,
		LeaderWait:         5 * time.Second,
	}
}

func storeConfig(production bool) raftfsm.Config {
	if production {
		return raftfsm.Config{}
	}
	return fastStore()
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ROOST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startNode starts (or restarts) a node. A new node bootstraps when join
// is empty.
func startNode(t testing.TB, tn *testNode, join []string, nonvoter bool) {
	t.Helper()
	if tn.dir == "" {
		tn.dir = t.TempDir()
	}
	if tn.raftAddr == "" {
		tn.raftAddr, tn.grpcAddr, tn.mupdateAddr = freePort(t), freePort(t), freePort(t)
	}
	raftAddr, grpcAddr := tn.raftAddr, tn.grpcAddr
	users := filepath.Join(tn.dir, "users")
	if err := os.WriteFile(users, []byte(cyrusAdmin+":{PLAIN}"+cyrusPassword+":admin\n"+tn.users), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{
		NodeID: tn.id, DataDir: filepath.Join(tn.dir, "data"), RaftAddr: raftAddr, GRPCAddr: grpcAddr,
		MupdateAddr: tn.mupdateAddr, UsersFile: users, MupdateLinearizableReads: tn.linearizable,
		Bootstrap: len(join) == 0, Join: join, JoinAsNonvoter: nonvoter,
		Store: storeConfig(tn.production), Logger: testLogger(t),
	}
	cfg.Store.RaftStore = tn.store
	if tn.logger != nil {
		cfg.Logger = tn.logger
	}
	cfg.ReloadInterval = tn.reload
	dial := grpc.WithTransportCredentials(insecure.NewCredentials())
	if tn.pki != nil {
		cfg.TLSCert, cfg.TLSKey = tn.pki.issue(t, tn.id, auth.RoleNode)
		cfg.TLSCA = tn.pki.caFile()
		dial = grpc.WithTransportCredentials(credentials.NewTLS(tn.pki.tlsConfig(t, "admin-"+tn.id, auth.RoleAdmin)))
	}
	if tn.tls != nil {
		cfg.MupdateTLSCert, cfg.MupdateTLSKey = tn.tls.cert, tn.tls.key
		cfg.MupdateTLSAddr, cfg.MupdateRequireTLS = tn.tls.addr, tn.tls.require
	}
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", tn.id, err)
	}
	tn.n, tn.raftAddr, tn.grpcAddr = n, n.RaftAddr(), n.GRPCAddr()
	if tn.conn == nil {
		tn.conn, err = grpc.NewClient(tn.grpcAddr, dial)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tn.conn.Close() })
	}
	t.Cleanup(func() { tn.stop(t) })
}

func (tn *testNode) stop(t testing.TB) {
	if tn.n == nil {
		return
	}
	if err := tn.n.Close(); err != nil {
		t.Errorf("stop %s: %v", tn.id, err)
	}
	tn.n = nil
}

func (tn *testNode) mailboxes() roostv1.MailboxServiceClient {
	return roostv1.NewMailboxServiceClient(tn.conn)
}

func (tn *testNode) cluster() roostv1.ClusterServiceClient {
	return roostv1.NewClusterServiceClient(tn.conn)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// leaderOf returns the running node that leads, if any.
func leaderOf(nodes []*testNode) *testNode {
	for _, tn := range nodes {
		if tn.n != nil && tn.n.Store().IsLeader() {
			return tn
		}
	}
	return nil
}

// waitMembers waits until the leader's configuration has exactly these
// members (id → voter) and every member's gRPC address and log format are
// registered (so leaders write the newest log format).
func waitMembers(t testing.TB, nodes []*testNode, want map[string]bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("members %v", want), 20*time.Second, func() error {
		l := leaderOf(nodes)
		if l == nil {
			return fmt.Errorf("no leader")
		}
		st, err := l.cluster().GetStatus(context.Background(), &roostv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		return membersMatch(st, want)
	})
}

// membersMatch checks a leader's status for exactly these members (id →
// voter), each registered with its gRPC address and this build's log
// format.
func membersMatch(st *roostv1.GetStatusResponse, want map[string]bool) error {
	got := map[string]bool{}
	for _, m := range st.Members {
		if m.GrpcAddress == "" {
			return fmt.Errorf("%s has no gRPC address yet", m.Id)
		}
		if m.LogFormat != raftfsm.LogFormat {
			return fmt.Errorf("%s has declared log format %d, want %d", m.Id, m.LogFormat, raftfsm.LogFormat)
		}
		got[m.Id] = m.Suffrage == roostv1.Suffrage_SUFFRAGE_VOTER
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("members %v", got)
	}
	return nil
}

// names returns the mailbox names of a node's local database, in Cyrus
// order.
func names(tn *testNode) []string {
	var out []string
	tn.n.Store().FSM().View().List(raftfsm.ListOptions{}, func(m raftfsm.Mailbox) bool {
		out = append(out, m.Name)
		return true
	})
	return out
}

// listing returns a node's whole local database as comparable lines.
func listing(t testing.TB, tn *testNode) []string {
	t.Helper()
	v := tn.n.Store().FSM().View()
	var out []string
	v.List(raftfsm.ListOptions{}, func(m raftfsm.Mailbox) bool {
		out = append(out, fmt.Sprintf("%s %v %s %q %d %d", m.Name, m.State, m.Location, m.ACL, m.CreateRevision, m.ModifyRevision))
		return true
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// startThree starts a three-node cluster, ids prefix1 to prefix3 (the
// first bootstraps, the others join it), and waits until all are
// registered members.
func startThree(t testing.TB, prefix string, production bool) []*testNode {
	t.Helper()
	return startThreeWith(t, prefix, func(tn *testNode) { tn.production = production })
}

// startThreeWith is startThree with each node set up by setup first.
func startThreeWith(t testing.TB, prefix string, setup func(*testNode)) []*testNode {
	t.Helper()
	var nodes []*testNode
	want := map[string]bool{}
	for i := 1; i <= 3; i++ {
		tn := &testNode{id: fmt.Sprintf("%s%d", prefix, i)}
		setup(tn)
		var join []string
		if i > 1 {
			join = []string{nodes[0].grpcAddr}
		}
		startNode(t, tn, join, false)
		nodes = append(nodes, tn)
		want[tn.id] = true
	}
	waitMembers(t, nodes, want)
	return nodes
}

// followersOf returns the running nodes that do not lead.
func followersOf(nodes []*testNode) []*testNode {
	var out []*testNode
	for _, tn := range nodes {
		if tn.n != nil && !tn.n.Store().IsLeader() {
			out = append(out, tn)
		}
	}
	return out
}
