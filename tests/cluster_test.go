package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// write reserves and activates one mailbox through a node.
func write(ctx context.Context, tn *testNode, name, loc, acl string) error {
	mc := tn.mailboxes()
	if _, err := mc.Reserve(ctx, &roostv1.ReserveRequest{Name: []byte(name), Location: []byte(loc)}); err != nil {
		return err
	}
	_, err := mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(name), Location: []byte(loc), Acl: []byte(acl)})
	return err
}

// confinedDelete deletes name through a node's Batch, confined to server,
// and returns an error unless it is refused as on another server.
func confinedDelete(ctx context.Context, tn *testNode, name, server string) error {
	op := &roostv1.Operation{Op: &roostv1.Operation_Delete{Delete: &roostv1.DeleteRequest{Name: []byte(name)}},
		OnlyOnServers: [][]byte{[]byte(server)}}
	resp, err := tn.mailboxes().Batch(ctx, &roostv1.BatchRequest{Operations: []*roostv1.Operation{op}})
	if err != nil {
		return fmt.Errorf("Batch(delete %s only on %s) = %v, want nil error", name, server, err)
	}
	if got := resp.Results[0].Status; got != roostv1.OperationStatus_OPERATION_STATUS_WRONG_SERVER {
		return fmt.Errorf("Batch(delete %s only on %s) = %v, want WRONG_SERVER", name, server, got)
	}
	return nil
}

// streamWrite activates mailboxes through a node's Write stream, all in
// flight at once, and returns the first failure.
func streamWrite(ctx context.Context, tn *testNode, names []string, w want) error {
	stream, err := tn.mailboxes().Write(ctx)
	if err != nil {
		return err
	}
	for i, name := range names {
		if err := stream.Send(&roostv1.WriteRequest{Id: uint64(i), Operation: w.activate(name)}); err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	answered := map[uint64]bool{}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if resp.Id >= uint64(len(names)) || answered[resp.Id] {
			return fmt.Errorf("write %d answered twice or never asked", resp.Id)
		}
		if resp.Error != nil || resp.Result.GetStatus() != roostv1.OperationStatus_OPERATION_STATUS_OK {
			return fmt.Errorf("write %d: %v", resp.Id, resp)
		}
		answered[resp.Id] = true
	}
	if len(answered) != len(names) {
		return fmt.Errorf("%d of %d writes answered", len(answered), len(names))
	}
	return nil
}

type want struct{ loc, acl string }

// activate is the operation that writes w for name.
func (w want) activate(name string) *roostv1.Operation {
	return grpcserver.OpToProto(raftfsm.Op{Kind: raftfsm.OpActivate, Name: name, Location: w.loc, ACL: w.acl})
}

// streamLoad writes one mailbox at a time on a single Write stream until
// ctx ends, recording what is acknowledged. An answer may report a failure
// (no leader for a moment); the stream itself ending before ctx does is an
// error.
func streamLoad(ctx context.Context, tn *testNode, ok *acked, acks *atomic.Int64) error {
	stream, err := tn.mailboxes().Write(ctx)
	if err != nil {
		return err
	}
	w := want{"be8!stream", ""}
	for i := 0; ; i++ {
		name := fmt.Sprintf("load.stream.%05d", i)
		if err := stream.Send(&roostv1.WriteRequest{Id: uint64(i), Operation: w.activate(name)}); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("send %d: %w", i, err)
		}
		resp, err := stream.Recv()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("answer to %d: %w", i, err)
		case resp.Id != uint64(i):
			return fmt.Errorf("answer to %d carries id %d", i, resp.Id)
		case resp.Error == nil && resp.Result.GetStatus() == roostv1.OperationStatus_OPERATION_STATUS_OK:
			ok.add(name, w)
			acks.Add(1)
		}
	}
}

// acked records writes the cluster acknowledged; all must survive.
type acked struct {
	mu sync.Mutex
	m  map[string]want
}

func (a *acked) add(name string, w want) {
	a.mu.Lock()
	a.m[name] = w
	a.mu.Unlock()
}

func (a *acked) check(t *testing.T, tn *testNode) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	fsm := tn.n.Store().FSM()
	for _, name := range sortedKeys(a.m) {
		m, _ := fsm.Get(name)
		w := a.m[name]
		if m == nil || m.Location != w.loc || m.ACL != w.acl || m.State.String() != "ACTIVE" {
			t.Errorf("%s: Get(%q) = %+v, want ACTIVE at %s with ACL %q", tn.id, name, m, w.loc, w.acl)
		}
	}
}

// collector gathers a watcher's events for the test goroutine to read.
type collector struct {
	mu     sync.Mutex
	events []*roostv1.Event
}

func (c *collector) snapshot() []*roostv1.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// watchAll collects every event a Watch stream delivers until ctx ends.
func watchAll(ctx context.Context, tn *testNode, events *collector, done chan<- error) {
	stream, err := tn.mailboxes().Watch(ctx, &roostv1.WatchRequest{AfterRevision: 0})
	if err != nil {
		done <- err
		return
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.Canceled {
				err = nil
			}
			done <- err
			return
		}
		events.mu.Lock()
		events.events = append(events.events, msg.Events...)
		events.mu.Unlock()
	}
}

// catchUp waits until tn has applied everything the leader has.
func catchUp(t testing.TB, nodes []*testNode, tn *testNode) {
	t.Helper()
	waitFor(t, tn.id+" to catch up", 20*time.Second, func() error {
		l := leaderOf(nodes)
		if l == nil {
			return errors.New("no leader")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		idx, err := l.n.Store().ReadIndex(ctx)
		if err != nil {
			return err
		}
		return tn.n.Store().WaitApplied(ctx, idx)
	})
}

// TestCluster runs three real nodes on loopback (mutual TLS on gRPC and
// Raft, each Raft log store in turn, file snapshots) through writes on every node, a
// leader stop and restart, a non-voter join and promotion and a removal,
// while one watcher follows it all.
func TestCluster(t *testing.T) {
	for _, store := range raftStores {
		t.Run(store, func(t *testing.T) { clusterLifecycle(t, raftfsm.RaftStore(store)) })
	}
}

// clusterLifecycle is TestCluster on one Raft log store.
func clusterLifecycle(t *testing.T, store raftfsm.RaftStore) {
	ctx := context.Background()
	pki := newPKI(t)
	n1, n2, n3 := &testNode{id: "n1", store: store, pki: pki}, &testNode{id: "n2", store: store, pki: pki}, &testNode{id: "n3", store: store, pki: pki}
	startNode(t, n1, nil, false)
	startNode(t, n2, []string{n1.grpcAddr}, false)
	startNode(t, n3, []string{n2.grpcAddr, n1.grpcAddr}, false)
	nodes := []*testNode{n1, n2, n3}
	waitMembers(t, nodes, map[string]bool{"n1": true, "n2": true, "n3": true})

	// The watcher stays on a node that is neither stopped nor removed.
	l := leaderOf(nodes)
	watched := n2
	if l == n2 {
		watched = n3
	}
	wctx, stopWatch := context.WithCancel(ctx)
	events := &collector{}
	watchDone := make(chan error, 1)
	go watchAll(wctx, watched, events, watchDone)

	ok := &acked{m: map[string]want{}}
	for i, tn := range nodes {
		for j := range 20 {
			name := fmt.Sprintf("user.u%d.f%02d", i, j)
			w := want{fmt.Sprintf("be%d!default", i), fmt.Sprintf("u%d\tlrswipkxtecdan\t", i)}
			if err := write(ctx, tn, name, w.loc, w.acl); err != nil {
				t.Fatalf("write %s through %s: %v", name, tn.id, err)
			}
			ok.add(name, w)
		}
		// The Write stream: followers forward what it carries.
		w := want{fmt.Sprintf("be%d!stream", i), ""}
		var names []string
		for j := range 20 {
			names = append(names, fmt.Sprintf("user.s%d.f%02d", i, j))
		}
		if err := streamWrite(ctx, tn, names, w); err != nil {
			t.Fatalf("Write stream through %s: %v", tn.id, err)
		}
		for _, name := range names {
			ok.add(name, w)
		}
	}
	// Operations confined to a server are checked where they apply, on
	// the leader, whichever node they came through: none of these deletes
	// may take a mailbox that is on be0 (checked with the rest below).
	for _, tn := range nodes {
		if err := confinedDelete(ctx, tn, "user.u0.f00", "be9"); err != nil {
			t.Fatalf("through %s: %v", tn.id, err)
		}
	}

	// Keep writing through the survivors while the leader stops.
	old := leaderOf(nodes)
	var survivors []*testNode
	for _, tn := range nodes {
		if tn != old {
			survivors = append(survivors, tn)
		}
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadWG sync.WaitGroup
	for k, tn := range survivors {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				name := fmt.Sprintf("load.%d.%04d", k, i)
				w := want{"be9!p", ""}
				cctx, cancel := context.WithTimeout(loadCtx, 10*time.Second)
				if err := write(cctx, tn, name, w.loc, w.acl); err == nil {
					ok.add(name, w)
				}
				cancel()
			}
		}()
	}
	// One more writer keeps a single Write stream open on a survivor
	// across the leader's stop: the stream must stay open, and its writes
	// be acknowledged under the new leader.
	var streamAcks atomic.Int64
	streamDone := make(chan error, 1)
	loadWG.Add(1)
	go func() {
		defer loadWG.Done()
		streamDone <- streamLoad(loadCtx, survivors[0], ok, &streamAcks)
	}()
	waitFor(t, "some writes before the stop", 10*time.Second, func() error {
		if survivors[0].n.Store().FSM().Len() < 80 {
			return errors.New("not yet")
		}
		return nil
	})
	old.stop(t)
	waitFor(t, "a new leader", 10*time.Second, func() error {
		if l := leaderOf(survivors); l == nil || l == old {
			return errors.New("none")
		}
		return nil
	})
	// Writes keep being acknowledged under the new leader, on the same
	// Write stream too.
	before, streamBefore := survivors[0].n.Store().FSM().Len(), streamAcks.Load()
	waitFor(t, "writes under the new leader", 10*time.Second, func() error {
		if survivors[0].n.Store().FSM().Len() < before+50 || streamAcks.Load() < streamBefore+10 {
			return errors.New("not yet")
		}
		return nil
	})
	stopLoad()
	loadWG.Wait()
	if err := <-streamDone; err != nil {
		t.Errorf("the Write stream on %s across the leader's stop: %v", survivors[0].id, err)
	}
	for _, tn := range survivors {
		catchUp(t, nodes, tn)
		ok.check(t, tn)
	}

	// The old leader comes back with its data directory and catches up.
	startNode(t, old, nil, false)
	catchUp(t, nodes, old)
	ok.check(t, old)
	if a, b := listing(t, old), listing(t, survivors[0]); !slices.Equal(a, b) {
		t.Errorf("restarted %s differs from %s: %d vs %d entries", old.id, survivors[0].id, len(a), len(b))
	}

	// A fourth node joins as a non-voter, is promoted, and one node leaves.
	n4 := &testNode{id: "n4", store: store, pki: pki}
	startNode(t, n4, []string{watched.grpcAddr}, true)
	nodes = append(nodes, n4)
	waitMembers(t, nodes, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false})
	if _, err := watched.cluster().Join(ctx, &roostv1.JoinRequest{Id: "n4", RaftAddress: n4.raftAddr}); err != nil {
		t.Fatalf("promote n4: %v", err)
	}
	waitMembers(t, nodes, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true})
	var gone *testNode
	for _, tn := range nodes[:3] {
		if tn != watched && tn != old {
			gone = tn
		}
	}
	if _, err := n4.cluster().Remove(ctx, &roostv1.RemoveRequest{Id: gone.id}); err != nil {
		t.Fatalf("remove %s: %v", gone.id, err)
	}
	remaining := map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true}
	delete(remaining, gone.id)
	waitMembers(t, nodes, remaining)
	gone.stop(t)
	if err := write(ctx, n4, "user.after.remove", "be1!default", ""); err != nil {
		t.Fatalf("write after remove: %v", err)
	}
	ok.add("user.after.remove", want{"be1!default", ""})
	catchUp(t, nodes, n4)
	ok.check(t, n4)

	// The watcher saw every change once, in order: replaying its events
	// rebuilds the watched node's state exactly.
	catchUp(t, nodes, watched)
	final := watched.n.Store().FSM().Revision()
	waitFor(t, "the watcher to reach the last revision", 10*time.Second, func() error {
		evs := events.snapshot()
		if len(evs) == 0 || evs[len(evs)-1].Revision < final {
			return errors.New("behind")
		}
		return nil
	})
	stopWatch()
	if err := <-watchDone; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
	checkEvents(t, events.snapshot(), listing(t, watched))
}

// checkEvents asserts that events are in revision order, that no change
// appears twice, and that replaying them yields want.
func checkEvents(t *testing.T, events []*roostv1.Event, want []string) {
	t.Helper()
	state := map[string]*roostv1.Mailbox{}
	seen := map[string]bool{}
	var last uint64
	for _, ev := range events {
		if ev.Revision < last {
			t.Fatalf("event at revision %d after %d", ev.Revision, last)
		}
		last = ev.Revision
		key := fmt.Sprintf("%d/%s", ev.Revision, ev.Mailbox.Name)
		if seen[key] {
			t.Fatalf("event %s delivered twice", key)
		}
		seen[key] = true
		if ev.Type == roostv1.EventType_EVENT_TYPE_DELETE {
			delete(state, string(ev.Mailbox.Name))
		} else {
			state[string(ev.Mailbox.Name)] = ev.Mailbox
		}
	}
	var got []string
	for _, name := range sortedKeys(state) {
		m := state[name]
		got = append(got, fmt.Sprintf("%s %s %s %q %d %d", m.Name, stateWord(m.State), m.Location, m.Acl, m.CreateRevision, m.ModifyRevision))
	}
	wantSorted := slices.Clone(want)
	slices.Sort(wantSorted)
	if !slices.Equal(got, wantSorted) {
		t.Errorf("replayed events give %d entries, the node has %d", len(got), len(wantSorted))
		for i := 0; i < len(got) && i < len(wantSorted); i++ {
			if got[i] != wantSorted[i] {
				t.Errorf("first difference: replay %q, node %q", got[i], wantSorted[i])
				break
			}
		}
	}
}

func stateWord(s roostv1.MailboxState) string {
	if s == roostv1.MailboxState_MAILBOX_STATE_ACTIVE {
		return "ACTIVE"
	}
	return "RESERVED"
}

// TestSnapshotRestoreIntoFreshNode is the disaster-recovery path: a
// snapshot saved over gRPC from a cluster, restored into a new
// single-node cluster, serves the same data, and a second node joins it.
func TestSnapshotRestoreIntoFreshNode(t *testing.T) {
	ctx := context.Background()
	src := &testNode{id: "src"}
	startNode(t, src, nil, false)
	waitFor(t, "a leader", 10*time.Second, func() error {
		if !src.n.Store().IsLeader() {
			return errors.New("not yet")
		}
		return nil
	})
	for i := range 300 {
		name := fmt.Sprintf("example.com!user.u%03d", i)
		if err := write(ctx, src, name, fmt.Sprintf("be%d!", i%3), "anyone\tlrs\t"); err != nil {
			t.Fatal(err)
		}
	}
	snap := saveSnapshot(t, src)

	dst := &testNode{id: "dst"}
	startNode(t, dst, nil, false)
	waitFor(t, "a leader", 10*time.Second, func() error {
		if !dst.n.Store().IsLeader() {
			return errors.New("not yet")
		}
		return nil
	})
	// A damaged snapshot is refused and changes nothing.
	bad := slices.Clone(snap)
	bad[len(bad)/2] ^= 0xff
	if _, err := restore(ctx, dst, bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("restore of a damaged snapshot: %v, want InvalidArgument", err)
	}
	if n := dst.n.Store().FSM().Len(); n != 0 {
		t.Fatalf("after a refused restore: %d mailboxes, want 0", n)
	}
	resp, err := restore(ctx, dst, snap)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if resp.Mailboxes != 300 {
		t.Errorf("restored %d mailboxes, want 300", resp.Mailboxes)
	}
	// Writes go on from the restored state, and a joining node gets it all.
	if err := write(ctx, dst, "user.new", "be1!", ""); err != nil {
		t.Fatal(err)
	}
	peer := &testNode{id: "peer"}
	startNode(t, peer, []string{dst.grpcAddr}, false)
	nodes := []*testNode{dst, peer}
	waitMembers(t, nodes, map[string]bool{"dst": true, "peer": true})
	catchUp(t, nodes, peer)
	srcList := listing(t, src)
	for _, tn := range nodes {
		got := listing(t, tn)
		if len(got) != len(srcList)+1 {
			t.Errorf("%s has %d entries, want %d", tn.id, len(got), len(srcList)+1)
			continue
		}
		for _, line := range srcList {
			if !slices.Contains(got, line) {
				t.Errorf("%s lacks %q", tn.id, line)
				break
			}
		}
	}
}

func saveSnapshot(t *testing.T, tn *testNode) []byte {
	t.Helper()
	stream, err := tn.cluster().SaveSnapshot(context.Background(), &roostv1.SaveSnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes()
		}
		if err != nil {
			t.Fatalf("save snapshot: %v", err)
		}
		buf.Write(msg.Chunk)
	}
}

func restore(ctx context.Context, tn *testNode, snap []byte) (*roostv1.RestoreSnapshotResponse, error) {
	stream, err := tn.cluster().RestoreSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	for off := 0; off < len(snap); off += 1000 {
		if err := stream.Send(&roostv1.RestoreSnapshotRequest{Chunk: snap[off:min(off+1000, len(snap))]}); err != nil {
			break
		}
	}
	return stream.CloseAndRecv()
}
