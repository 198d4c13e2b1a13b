package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roost-mail/roost/cmd/roostd/node"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/client"
)

// startNode starts a real node on loopback ports, bootstrapping a
// cluster or joining the one at join.
func startNode(t *testing.T, id string, history int, join ...string) *node.Node {
	t.Helper()
	dir := t.TempDir()
	n, err := node.Start(node.Config{
		NodeID: id, DataDir: filepath.Join(dir, "data"), RaftAddr: freePort(t), GRPCAddr: freePort(t),
		Bootstrap: len(join) == 0, Join: join,
		Store: raftfsm.Config{HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
			LeaderLeaseTimeout: 200 * time.Millisecond, HistorySize: history},
	})
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { n.Close() })
	waitFor(t, id+" ready", 20*time.Second, func() bool { return n.Ready() })
	return n
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newClient(t *testing.T, endpoints ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: endpoints, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func activate(ctx context.Context, c *client.Client, name string) (uint64, error) {
	var rev uint64
	err := c.Mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.Activate(ctx, client.Activate([]byte(name), []byte("be1!default"), nil).GetActivate())
		rev = resp.GetRevision()
		return err
	})
	return rev, err
}

func TestNewRefuses(t *testing.T) {
	if _, err := client.New(client.Config{Endpoints: []string{" ", ""}}); !errors.Is(err, client.ErrNoEndpoints) {
		t.Errorf("New(no endpoints) = %v, want ErrNoEndpoints", err)
	}
	if _, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:1"}, User: "u", Password: "p"}); !errors.Is(err, client.ErrPasswordNeedsTLS) {
		t.Errorf("New(password, no TLS) = %v, want ErrPasswordNeedsTLS", err)
	}
}

// TestDoFailsOver: an endpoint nobody listens on is passed over for the
// next, and a refusal is the answer, not a reason to try elsewhere.
func TestDoFailsOver(t *testing.T) {
	n := startNode(t, "d1", 0)
	c := newClient(t, freePort(t), n.GRPCAddr())
	ctx := t.Context()
	if _, err := activate(ctx, c, "user.a"); err != nil {
		t.Fatalf("Activate through a dead endpoint, then a live one = %v", err)
	}
	calls := 0
	err := c.Mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		calls++
		_, err := mc.Reserve(ctx, client.Reserve([]byte("user.a"), []byte("be2!default")).GetReserve())
		return err
	})
	if err == nil || calls != 1 {
		t.Errorf("Reserve of a name held elsewhere = %v after %d calls, want a refusal after 1", err, calls)
	}
}

// collector gathers a Watch's deliveries as a cache would.
type collector struct {
	mu      sync.Mutex
	state   map[string]uint64 // name -> revision of its last change
	seen    map[string]int    // name -> how many times a change to it arrived
	rev     uint64
	resets  int
	backrev bool
}

func newCollector() *collector {
	return &collector{state: map[string]uint64{}, seen: map[string]int{}}
}

func (c *collector) update(u client.Update) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u.Reset {
		c.resets++
		clear(c.state)
	}
	for _, m := range u.Listing {
		c.state[string(m.Name)] = m.ModifyRevision
	}
	for _, ev := range u.Events {
		if ev.Revision <= c.rev {
			c.backrev = true
		}
		c.state[string(ev.Mailbox.Name)] = ev.Revision
		c.seen[string(ev.Mailbox.Name)]++
	}
	if u.Revision > 0 {
		if u.Revision < c.rev {
			c.backrev = true
		}
		c.rev = u.Revision
	}
	return nil
}

func (c *collector) has(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.state) >= n
}

// TestWatchResumesOnAnotherNode: the node a watch follows goes away; the
// watch resumes on another after the last revision it delivered, so no
// change is lost, none arrives twice, and revisions never go back.
func TestWatchResumesOnAnotherNode(t *testing.T) {
	n1 := startNode(t, "w1", 0)
	n2 := startNode(t, "w2", 0, n1.GRPCAddr())
	n3 := startNode(t, "w3", 0, n1.GRPCAddr())
	nodes := map[string]*node.Node{n1.GRPCAddr(): n1, n2.GRPCAddr(): n2, n3.GRPCAddr(): n3}
	writer := newClient(t, n1.GRPCAddr(), n2.GRPCAddr(), n3.GRPCAddr())
	ctx := t.Context()
	for i := range 20 {
		if _, err := activate(ctx, writer, fmt.Sprintf("user.before%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The watcher starts on a follower, so that stopping it leaves a
	// quorum.
	var follower *node.Node
	for _, n := range []*node.Node{n2, n3} {
		if !n.Store().IsLeader() {
			follower = n
		}
	}
	others := []string{n1.GRPCAddr(), n2.GRPCAddr(), n3.GRPCAddr()}
	others = slices.DeleteFunc(others, func(a string) bool { return a == follower.GRPCAddr() })
	w := newClient(t, append([]string{follower.GRPCAddr()}, others...)...)
	col := newCollector()
	var endpointsMu sync.Mutex
	endpoints := map[string]bool{}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	interrupted := 0
	go func() {
		done <- w.Watch(wctx, client.WatchOptions{Listing: true, OnInterrupt: func(error, uint64) { interrupted++ }},
			func(u client.Update) error {
				endpointsMu.Lock()
				endpoints[u.Endpoint] = true
				endpointsMu.Unlock()
				return col.update(u)
			})
	}()
	waitFor(t, "the listing", 10*time.Second, func() bool { return col.has(20) })
	if err := follower.Close(); err != nil {
		t.Fatal(err)
	}
	delete(nodes, follower.GRPCAddr())
	for i := range 20 {
		if _, err := activate(ctx, writer, fmt.Sprintf("user.after%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every change after the node went away", 20*time.Second, func() bool { return col.has(40) })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch after cancel = %v, want context.Canceled", err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for name, k := range col.seen {
		if k != 1 {
			t.Errorf("%s changed once but arrived %d times", name, k)
		}
	}
	if col.resets != 1 || col.backrev {
		t.Errorf("resets = %d, went back in revision = %v; want 1 listing, never back", col.resets, col.backrev)
	}
	if len(endpoints) < 2 || interrupted == 0 {
		t.Errorf("deliveries came from %v after %d interruptions, want two nodes", endpoints, interrupted)
	}
}

// TestWatchRelists: resuming after a revision the history no longer
// reaches fails with ErrCompacted, or, with Relist, starts over from a
// listing that holds everything.
func TestWatchRelists(t *testing.T) {
	n := startNode(t, "r1", 8)
	c := newClient(t, n.GRPCAddr())
	ctx := t.Context()
	first, err := activate(ctx, c, "user.first")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := activate(ctx, c, fmt.Sprintf("user.u%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	err = c.Watch(ctx, client.WatchOptions{AfterRevision: first, MaxRounds: 1}, func(client.Update) error { return nil })
	if !errors.Is(err, client.ErrCompacted) {
		t.Errorf("Watch(after a compacted revision) = %v, want ErrCompacted", err)
	}
	col := newCollector()
	stop := errors.New("stop")
	err = c.Watch(ctx, client.WatchOptions{AfterRevision: first, Relist: true}, func(u client.Update) error {
		col.update(u)
		if u.ListingComplete {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Watch with Relist = %v, want the callback's error", err)
	}
	if col.resets != 1 || len(col.state) != 31 {
		t.Errorf("Relist brought %d resets and %d entries, want 1 and 31", col.resets, len(col.state))
	}
}

// TestWatchProgress: a quiet watch asked for progress hears from the node.
func TestWatchProgress(t *testing.T) {
	n := startNode(t, "p1", 0)
	c := newClient(t, n.GRPCAddr())
	rev, err := activate(t.Context(), c, "user.a")
	if err != nil {
		t.Fatal(err)
	}
	quiet := 0
	stop := errors.New("stop")
	err = c.Watch(t.Context(), client.WatchOptions{AfterRevision: rev, ProgressInterval: 50 * time.Millisecond}, func(u client.Update) error {
		if len(u.Events) == 0 && u.Revision == rev && u.NodeRevision >= rev {
			quiet++
		}
		if quiet == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("Watch with progress = %v, want three progress messages", err)
	}
}

// TestWriter: many Writes in flight on one stream each get their own
// answer, refusals as results.
func TestWriter(t *testing.T) {
	n := startNode(t, "wr1", 0)
	c := newClient(t, freePort(t), n.GRPCAddr())
	w := c.NewWriter(true)
	defer w.Close()
	ctx := t.Context()
	var wg sync.WaitGroup
	revs := make([]uint64, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() {
			res, rev, err := w.Write(ctx, client.Activate([]byte(fmt.Sprintf("user.w%03d", i)), []byte("be1!default"), nil))
			if err == nil && res.Status != roostv1.OperationStatus_OPERATION_STATUS_OK {
				err = fmt.Errorf("status %v", res.Status)
			}
			revs[i], errs[i] = rev, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || revs[i] == 0 {
			t.Fatalf("Write %d = rev %d, %v; want committed", i, revs[i], err)
		}
	}
	res, _, err := w.Write(ctx, client.Reserve([]byte("user.w000"), []byte("be2!default")))
	if err != nil || res.Status == roostv1.OperationStatus_OPERATION_STATUS_OK {
		t.Errorf("Write(reserve of a name held elsewhere) = %v, %v; want a refusal result", res, err)
	}
	if n.Store().FSM().Len() != 100 {
		t.Errorf("the node holds %d mailboxes, want 100", n.Store().FSM().Len())
	}
	w.Close()
	if _, _, err := w.Write(ctx, client.Delete([]byte("user.w000"))); !errors.Is(err, client.ErrWriterClosed) {
		t.Errorf("Write after Close = %v, want ErrWriterClosed", err)
	}
}
