package locator_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/frontend/locator"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/client"
	"go.etcd.io/bbolt"
)

func startNode(t *testing.T, history int) *node.Node {
	t.Helper()
	return startNodeHistory(t, history)
}

func startNodeTB(tb testing.TB) *node.Node { return startNodeHistory(tb, 0) }

func startNodeHistory(t testing.TB, history int) *node.Node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	n, err := node.Start(node.Config{NodeID: "l1", DataDir: filepath.Join(t.TempDir(), "data"), RaftAddr: raftAddr,
		GRPCAddr: "127.0.0.1:0", Bootstrap: true,
		Store: raftfsm.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			LeaderLeaseTimeout: 200 * time.Millisecond, HistorySize: history}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitFor(t, "the node to be ready", func() bool { return n.Ready() })
	return n
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// running is a cache following a node, with its metrics.
type running struct {
	c      *locator.Cache
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func runCache(t *testing.T, dir string, endpoints ...string) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := locator.Open(dir, &locator.Options{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{c: c, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, cl) }()
	t.Cleanup(func() { r.stop(t); cl.Close() })
	return r
}

func (r *running) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	r.cancel = nil
	if err := r.c.Close(); err != nil {
		t.Error(err)
	}
}

func (r *running) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric[0].GetCounter().GetValue() + mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func write(t *testing.T, n *node.Node, ops ...*roostv1.Operation) uint64 {
	t.Helper()
	var rev uint64
	for _, op := range ops {
		if _, err := n.Store().Apply(t.Context(), []raftfsm.Op{fromProto(op)}, false); err != nil {
			t.Fatal(err)
		}
	}
	rev = n.Store().FSM().Revision()
	return rev
}

func fromProto(op *roostv1.Operation) raftfsm.Op {
	switch o := op.Op.(type) {
	case *roostv1.Operation_Activate:
		return raftfsm.Op{Kind: raftfsm.OpActivate, Name: string(o.Activate.Name), Location: string(o.Activate.Location), ACL: string(o.Activate.Acl)}
	case *roostv1.Operation_Reserve:
		return raftfsm.Op{Kind: raftfsm.OpReserve, Name: string(o.Reserve.Name), Location: string(o.Reserve.Location)}
	case *roostv1.Operation_Delete:
		return raftfsm.Op{Kind: raftfsm.OpDelete, Name: string(o.Delete.Name)}
	}
	panic("unexpected op")
}

// same reports how the cache and the node's database differ.
func same(c *locator.Cache, n *node.Node) error {
	var want, got []string
	servers := map[string]int{}
	n.Store().FSM().View().List(raftfsm.ListOptions{ByteOrder: true}, func(m raftfsm.Mailbox) bool {
		want = append(want, fmt.Sprintf("%s %v %s %q", m.Name, m.State == raftfsm.StateReserved, m.Location, m.ACL))
		server, _, _ := strings.Cut(m.Location, "!")
		servers[server]++
		return true
	})
	if got := c.Servers(); !maps.Equal(got, servers) {
		return fmt.Errorf("cache counts per server %v, node %v", got, servers)
	}
	c.List("", func(e locator.Entry) bool {
		got = append(got, fmt.Sprintf("%s %v %s %q", e.Name, e.Reserved, e.Location, e.ACL))
		return true
	})
	if !slices.Equal(got, want) || c.Len() != len(want) {
		return fmt.Errorf("cache (%d) %.300q, node %.300q", c.Len(), got, want)
	}
	return nil
}

func activate(name, loc, acl string) *roostv1.Operation {
	return client.Activate([]byte(name), []byte(loc), []byte(acl))
}

// TestFollow: a new cache lists the database once, is ready only then,
// and follows every change after it.
func TestFollow(t *testing.T) {
	n := startNode(t, 0)
	for i := range 50 {
		write(t, n, activate(fmt.Sprintf("user.u%02d", i), "be1!default", fmt.Sprintf("u%02d\tlrswipkxtecdan\t", i)))
	}
	r := runCache(t, t.TempDir(), n.GRPCAddr())
	waitFor(t, "the first sync", r.c.Ready)
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	rev := write(t, n, activate("user.u00", "be2!p", "anyone\tlr\t"), client.Delete([]byte("user.u01")),
		client.Reserve([]byte("user.new"), []byte("be3!default")))
	if err := r.c.WaitFor(t.Context(), func() bool { return r.c.Revision() >= rev }); err != nil {
		t.Fatal(err)
	}
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	e, ok := r.c.Lookup("user.u00")
	if !ok || e.Server() != "be2" || e.ACL != "anyone\tlr\t" || e.Reserved {
		t.Errorf("Lookup(user.u00) = %+v, %v; want active on be2", e, ok)
	}
	if e, ok := r.c.Lookup("user.new"); !ok || !e.Reserved {
		t.Errorf("Lookup(user.new) = %+v, %v; want reserved", e, ok)
	}
	if _, ok := r.c.Lookup("user.u01"); ok {
		t.Error("Lookup(user.u01) found a deleted mailbox")
	}
	var listed []string
	r.c.List("user.u1", func(e locator.Entry) bool { listed = append(listed, e.Name); return len(listed) < 3 })
	if want := []string{"user.u10", "user.u11", "user.u12"}; !slices.Equal(listed, want) {
		t.Errorf("List(user.u1) stopped after 3 = %q, want %q", listed, want)
	}
	if got := r.counter(t, "roost_frontend_cache_listings_total"); got != 1 {
		t.Errorf("listings = %v, want 1", got)
	}
	waitFor(t, "a progress message", func() bool {
		behind, inSync, contact := r.c.Lag()
		return behind == 0 && !inSync.IsZero() && time.Since(contact) < 5*time.Second
	})
}

// TestRestartResumes: a cache stopped and started again while the cluster
// changed resumes after its revision, without listing again, and ends
// identical; with the cluster down it is ready from its file and routes.
func TestRestartResumes(t *testing.T) {
	n := startNode(t, 0)
	for i := range 20 {
		write(t, n, activate(fmt.Sprintf("user.u%02d", i), "be1!default", ""))
	}
	dir := t.TempDir()
	r := runCache(t, dir, n.GRPCAddr())
	waitFor(t, "the first sync", r.c.Ready)
	r.stop(t)

	var rev uint64
	for i := range 10 {
		rev = write(t, n, activate(fmt.Sprintf("user.late%d", i), "be2!default", ""))
	}
	write(t, n, client.Delete([]byte("user.u05")))
	rev = n.Store().FSM().Revision()
	r = runCache(t, dir, n.GRPCAddr())
	if !r.c.Ready() {
		t.Error("a restarted cache is not ready from its file")
	}
	if err := r.c.WaitFor(t.Context(), func() bool { return r.c.Revision() >= rev }); err != nil {
		t.Fatal(err)
	}
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	if got := r.counter(t, "roost_frontend_cache_listings_total"); got != 0 {
		t.Errorf("a restart listed %v times, want 0 (it resumes after its revision)", got)
	}
	r.stop(t)

	// The cluster is gone; the cache still routes from its file.
	addr := n.GRPCAddr()
	n.Close()
	r = runCache(t, dir, addr)
	if e, ok := r.c.Lookup("user.late3"); !r.c.Ready() || !ok || e.Server() != "be2" {
		t.Errorf("with the cluster down: ready %v, Lookup(user.late3) = %+v, %v", r.c.Ready(), e, ok)
	}
	if r.c.Len() != 29 {
		t.Errorf("with the cluster down: %d mailboxes, want 29", r.c.Len())
	}
}

// TestRelistWhenHistoryGone: a cache whose revision the cluster's history
// no longer reaches lists again, replacing its copy whole.
func TestRelistWhenHistoryGone(t *testing.T) {
	n := startNode(t, 8)
	write(t, n, activate("user.gone", "be1!default", ""))
	dir := t.TempDir()
	r := runCache(t, dir, n.GRPCAddr())
	waitFor(t, "the first sync", r.c.Ready)
	r.stop(t)
	write(t, n, client.Delete([]byte("user.gone")))
	for i := range 30 {
		write(t, n, activate(fmt.Sprintf("user.u%02d", i), "be1!default", ""))
	}
	rev := n.Store().FSM().Revision()
	r = runCache(t, dir, n.GRPCAddr())
	if err := r.c.WaitFor(t.Context(), func() bool { return r.c.Revision() >= rev }); err != nil {
		t.Fatal(err)
	}
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	if got := r.counter(t, "roost_frontend_cache_listings_total"); got != 1 {
		t.Errorf("listings after the history was gone = %v, want 1", got)
	}
}

// TestOpenTwice: one process at a time has a cache directory.
func TestOpenTwice(t *testing.T) {
	dir := t.TempDir()
	c, err := locator.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Ready() || c.Revision() != 0 || c.Len() != 0 {
		t.Errorf("a new cache: ready %v, revision %d, %d mailboxes; want none", c.Ready(), c.Revision(), c.Len())
	}
	if c2, err := locator.Open(dir, nil); err == nil {
		c2.Close()
		t.Error("a second Open of a directory in use succeeded")
	}
}

// TestOlderFormat: a cache file of an older format (here format 1, from
// before the counts per server) is emptied on Open, so that Run lists
// again, rather than refused.
func TestOlderFormat(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, locator.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		meta.Put([]byte("format"), binary.BigEndian.AppendUint64(nil, 1))
		meta.Put([]byte("current"), []byte{0})
		meta.Put([]byte("revision"), binary.BigEndian.AppendUint64(nil, 42))
		meta.Put([]byte("synced"), []byte{1})
		meta.Put([]byte("count"), binary.BigEndian.AppendUint64(nil, 1))
		a, _ := tx.CreateBucket([]byte("a"))
		return a.Put([]byte("user.old"), []byte("a\x0bbe1!default"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := locator.Open(dir, nil)
	if err != nil {
		t.Fatalf("Open of a format 1 cache: %v", err)
	}
	defer c.Close()
	if c.Ready() || c.Revision() != 0 || c.Len() != 0 {
		t.Errorf("a format 1 cache after Open: ready %v, revision %d, %d mailboxes; want it emptied", c.Ready(), c.Revision(), c.Len())
	}
	if _, ok := c.Lookup("user.old"); ok {
		t.Error("an entry of the old file is still there")
	}
}
