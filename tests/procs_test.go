package tests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// raftStores are the log stores every crash and failover test runs
// against.
var raftStores = []string{"wal", "boltdb"}

// procNode is a roostd process with a gRPC connection that outlives its
// restarts.
type procNode struct {
	*proc
	conn *grpc.ClientConn
}

// startProcCluster starts three roostd processes, the first
// bootstrapping and the others joining it, each with extra flags and, if
// defaults is set, roostd's default Raft timings rather than the quick
// ones of tests; it waits until all are registered members.
func startProcCluster(t testing.TB, roostd, prefix string, defaults bool, extra ...string) []*procNode {
	t.Helper()
	var nodes []*procNode
	for i := 1; i <= 3; i++ {
		n := &procNode{proc: newProc(t, fmt.Sprintf("%s%d", prefix, i))}
		n.defaults = defaults
		args := extra
		if i > 1 {
			args = append(slices.Clone(extra), "--join", nodes[0].grpc)
		}
		n.start(t, roostd, args...)
		// On a failure, each node's log, read once the node has ended
		// (its output is copied until then).
		t.Cleanup(func() {
			if t.Failed() {
				n.kill()
				t.Logf("%s's log:\n%s", n.id, n.log)
			}
		})
		conn, err := grpc.NewClient(n.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		n.conn = conn
		nodes = append(nodes, n)
	}
	waitProcMembers(t, nodes)
	return nodes
}

func (n *procNode) mailboxes() roostv1.MailboxServiceClient {
	return roostv1.NewMailboxServiceClient(n.conn)
}

// status asks a node for its view of the cluster.
func (n *procNode) status() (*roostv1.GetStatusResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return roostv1.NewClusterServiceClient(n.conn).GetStatus(ctx, &roostv1.GetStatusRequest{})
}

// waitProcMembers waits until a running node leads a cluster of exactly
// these nodes, each registered with its gRPC address.
func waitProcMembers(t testing.TB, nodes []*procNode) {
	t.Helper()
	want := map[string]bool{}
	for _, n := range nodes {
		want[n.id] = true
	}
	waitFor(t, fmt.Sprintf("members %v", sortedKeys(want)), 60*time.Second, func() error {
		l, err := findLeader(nodes)
		if err != nil {
			return err
		}
		st, err := l.status()
		if err != nil {
			return err
		}
		return membersMatch(st, want)
	})
}

// findLeader returns the node that says it leads, without waiting.
func findLeader(nodes []*procNode) (*procNode, error) {
	for _, n := range nodes {
		if st, err := n.status(); err == nil && st.Role == roostv1.Role_ROLE_LEADER {
			return n, nil
		}
	}
	return nil, errors.New("no node says it leads")
}

// leaderProc waits until a node knows a leader, and returns it.
func leaderProc(t testing.TB, nodes []*procNode) *procNode {
	t.Helper()
	var leader *procNode
	waitFor(t, "a leader", 30*time.Second, func() error {
		for _, n := range nodes {
			st, err := n.status()
			if err != nil {
				continue
			}
			for _, l := range nodes {
				if l.id == st.LeaderId {
					leader = l
					return nil
				}
			}
		}
		return errors.New("no node knows a leader")
	})
	return leader
}

// ackedWriters activates new names through every node, round robin, from
// a few goroutines, and records each write a node acknowledged.
type ackedWriters struct {
	mu    sync.Mutex
	acked []string // protected by mu
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

func startWriters(ctx context.Context, nodes []*procNode, writers int) *ackedWriters {
	ctx, cancel := context.WithCancel(ctx)
	w := &ackedWriters{stop: cancel}
	for g := range writers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				n := nodes[(g+i)%len(nodes)]
				name := fmt.Sprintf("user.w%d-%06d", g, i)
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := roostv1.NewMailboxServiceClient(n.conn).Activate(cctx, &roostv1.ActivateRequest{
					Name: []byte(name), Location: []byte("be1!default"), Acl: []byte("jane\tlrs\t")})
				ccancel()
				if err == nil {
					w.mu.Lock()
					w.acked = append(w.acked, name)
					w.mu.Unlock()
					continue
				}
				// A node that is down refuses at once: pace the retries.
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	return w
}

func (w *ackedWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitMore waits until n more writes than now have been acknowledged.
func (w *ackedWriters) waitMore(t testing.TB, n int, what string) {
	t.Helper()
	target := w.count() + n
	waitFor(t, fmt.Sprintf("%d acknowledged writes %s", target, what), 60*time.Second, func() error {
		if c := w.count(); c < target {
			return fmt.Errorf("%d acknowledged", c)
		}
		return nil
	})
}

// finish stops the writers and returns what was acknowledged.
func (w *ackedWriters) finish() []string {
	w.stop()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.acked)
}

// localNames lists the user.w names in a node's own copy of the database.
func localNames(ctx context.Context, n *procNode) (map[string]bool, error) {
	got := map[string]bool{}
	var token []byte
	for {
		resp, err := roostv1.NewMailboxServiceClient(n.conn).ListMailboxes(ctx, &roostv1.ListMailboxesRequest{
			Prefix: []byte("user.w"), PageSize: 10000, PageToken: token})
		if err != nil {
			return nil, err
		}
		for _, m := range resp.Mailboxes {
			got[string(m.Name)] = true
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return got, nil
		}
	}
}

// checkAcked waits until every node holds every acknowledged write, and
// the same names as the others (a write whose answer was lost in a crash
// may be there too, but then everywhere).
func checkAcked(t testing.TB, nodes []*procNode, acked []string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("all %d acknowledged writes on every node", len(acked)), 60*time.Second, func() error {
		var first map[string]bool
		for _, n := range nodes {
			got, err := localNames(t.Context(), n)
			if err != nil {
				return fmt.Errorf("%s: %w", n.id, err)
			}
			missing := 0
			for _, name := range acked {
				if !got[name] {
					missing++
				}
			}
			if missing > 0 {
				return fmt.Errorf("%s lacks %d of %d acknowledged writes", n.id, missing, len(acked))
			}
			if first == nil {
				first = got
			} else if len(got) != len(first) {
				return fmt.Errorf("%s holds %d names, %s %d", n.id, len(got), nodes[0].id, len(first))
			}
		}
		return nil
	})
}
