package tests

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roost-mail/roost/mupdatecompat"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sessionRounds is how many mailboxes each session check writes; every
// round makes several writes, each read back at once.
const sessionRounds = 400

// TestSessionGuarantees writes through followers, on one MUPDATE
// connection and one gRPC client, and reads every write back at once on
// the same connection and node, while the leader and the other follower
// carry a stream of writes of their own. A follower answers a forwarded
// write once the leader has committed it, possibly before it has applied
// it itself: the read must wait for it rather than show the state before.
func TestSessionGuarantees(t *testing.T) {
	nodes := startThree(t, "sg", false)
	l := leaderOf(nodes)
	fs := followersOf(nodes)
	if l == nil || len(fs) != 2 {
		t.Fatalf("leader %v, followers %d", l, len(fs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	loadCtx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	loadErrs := make(chan error, 2)
	ok := &acked{m: map[string]want{}}
	var acks atomic.Int64
	for _, tn := range []*testNode{l, fs[1]} {
		load.Go(func() { loadErrs <- streamLoad(loadCtx, tn, ok, &acks) })
	}

	var checks sync.WaitGroup
	var mupdateChecks, grpcChecks int
	var mupdateErr, grpcErr error
	checks.Go(func() { mupdateChecks, mupdateErr = mupdateSession(ctx, fs[0], "sess", sessionRounds) })
	checks.Go(func() { grpcChecks, grpcErr = grpcSession(ctx, fs[1], "user.grpc", sessionRounds) })
	checks.Wait()
	stopLoad()
	load.Wait()
	close(loadErrs)
	for err := range loadErrs {
		if err != nil {
			t.Errorf("load: %v", err)
		}
	}
	if mupdateErr != nil {
		t.Errorf("MUPDATE through follower %s, after %d reads: %v", fs[0].id, mupdateChecks, mupdateErr)
	}
	if grpcErr != nil {
		t.Errorf("gRPC through follower %s, after %d reads: %v", fs[1].id, grpcChecks, grpcErr)
	}
	if acks.Load() == 0 {
		t.Error("the load on the other nodes made no write")
	}
	t.Logf("%d MUPDATE and %d gRPC reads right after their writes, beside %d writes on the other nodes",
		mupdateChecks, grpcChecks, acks.Load())
}

// mupdateSession runs writes and reads on one authenticated MUPDATE
// connection to tn, as a Cyrus backend does, and checks that each read
// shows the connection's writes. It returns the number of reads checked.
func mupdateSession(ctx context.Context, tn *testNode, server string, rounds int) (int, error) {
	c, err := mupdatecompat.Dial(ctx, tn.mupdateAddr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
		return 0, err
	}
	loc := server + "!default"
	acl := "anyone\tlrs\t"
	live := map[string]bool{} // name → active
	reads := 0
	find := func(after, name string, want *raftfsm.Mailbox) error {
		reads++
		got, err := c.Find(name)
		if err != nil {
			return fmt.Errorf("FIND %s after %s: %w", name, after, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("FIND %s after %s = %+v, want %+v", name, after, got, want)
		}
		return nil
	}
	reserved := func(name string) *raftfsm.Mailbox {
		return &raftfsm.Mailbox{Name: name, State: raftfsm.StateReserved, Location: loc}
	}
	active := func(name string) *raftfsm.Mailbox {
		return &raftfsm.Mailbox{Name: name, State: raftfsm.StateActive, Location: loc, ACL: acl}
	}
	for i := range rounds {
		if ctx.Err() != nil {
			return reads, ctx.Err()
		}
		name := fmt.Sprintf("user.%s%04d", server, i)
		type step struct {
			what  string
			write func() error
			want  *raftfsm.Mailbox
		}
		steps := []step{
			{"RESERVE", func() error { return c.Reserve(name, loc) }, reserved(name)},
			{"ACTIVATE", func() error { return c.Activate(name, loc, acl) }, active(name)},
		}
		if i%4 == 1 {
			steps = append(steps,
				step{"DEACTIVATE", func() error { return c.Deactivate(name, loc) }, reserved(name)},
				step{"DELETE", func() error { return c.Delete(name) }, nil})
		}
		for _, st := range steps {
			if err := st.write(); err != nil {
				return reads, fmt.Errorf("%s %s: %w", st.what, name, err)
			}
			if err := find(st.what, name, st.want); err != nil {
				return reads, err
			}
		}
		live[name] = steps[len(steps)-1].want != nil
		if i%20 == 19 {
			reads++
			if err := listShows(c, server+"!", live); err != nil {
				return reads, fmt.Errorf("after %s: %w", name, err)
			}
		}
	}
	return reads, nil
}

// listShows checks that LIST prefix holds exactly the live names.
func listShows(c *mupdatecompat.Client, prefix string, live map[string]bool) error {
	ms, err := c.List(prefix)
	if err != nil {
		return fmt.Errorf("LIST %s: %w", prefix, err)
	}
	got := map[string]bool{}
	for _, m := range ms {
		got[m.Name] = true
	}
	for name, on := range live {
		if on != got[name] {
			return fmt.Errorf("LIST %s: %s listed %v, want %v (%d entries)", prefix, name, got[name], on, len(ms))
		}
	}
	if n := countTrue(live); len(ms) != n {
		return fmt.Errorf("LIST %s: %d entries, want %d", prefix, len(ms), n)
	}
	return nil
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// grpcSession writes through tn by unary calls and reads each write back
// on tn at once, passing the newest revision it has seen as min_revision.
// It returns the number of reads checked.
func grpcSession(ctx context.Context, tn *testNode, prefix string, rounds int) (int, error) {
	mc := tn.mailboxes()
	seen := uint64(0)
	saw := func(rev uint64) error {
		if rev < seen {
			return fmt.Errorf("a read at revision %d after one at %d", rev, seen)
		}
		seen = rev
		return nil
	}
	reads := 0
	get := func(after, name string, wantState roostv1.MailboxState) error {
		reads++
		resp, err := mc.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte(name), MinRevision: seen})
		switch {
		case wantState == roostv1.MailboxState_MAILBOX_STATE_UNSPECIFIED && status.Code(err) == codes.NotFound:
			return nil
		case err != nil:
			return fmt.Errorf("GetMailbox(%s) after %s: %w", name, after, err)
		case resp.Mailbox.State != wantState:
			return fmt.Errorf("GetMailbox(%s) after %s = %v, want %v", name, after, resp.Mailbox.State, wantState)
		}
		return saw(resp.Revision)
	}
	loc := []byte("grpc!default")
	for i := range rounds {
		if ctx.Err() != nil {
			return reads, ctx.Err()
		}
		name := fmt.Sprintf("%s%04d", prefix, i)
		a, err := mc.Activate(ctx, &roostv1.ActivateRequest{Name: []byte(name), Location: loc})
		if err != nil {
			return reads, fmt.Errorf("Activate(%s): %w", name, err)
		}
		seen = max(seen, a.Revision)
		if err := get("Activate", name, roostv1.MailboxState_MAILBOX_STATE_ACTIVE); err != nil {
			return reads, err
		}
		switch i % 4 {
		case 1:
			d, err := mc.Delete(ctx, &roostv1.DeleteRequest{Name: []byte(name)})
			if err != nil {
				return reads, fmt.Errorf("Delete(%s): %w", name, err)
			}
			seen = max(seen, d.Revision)
			if err := get("Delete", name, roostv1.MailboxState_MAILBOX_STATE_UNSPECIFIED); err != nil {
				return reads, err
			}
		case 2:
			reads++
			if err := listedAfter(ctx, mc, name, &seen); err != nil {
				return reads, err
			}
		case 3:
			reads++
			if err := watchedAfter(ctx, mc, name, seen); err != nil {
				return reads, err
			}
		}
	}
	return reads, nil
}

// listedAfter checks that ListMailboxes at min_revision shows name.
func listedAfter(ctx context.Context, mc roostv1.MailboxServiceClient, name string, seen *uint64) error {
	resp, err := mc.ListMailboxes(ctx, &roostv1.ListMailboxesRequest{Prefix: []byte(name), MinRevision: *seen})
	if err != nil {
		return fmt.Errorf("ListMailboxes(%s): %w", name, err)
	}
	if len(resp.Mailboxes) != 1 || string(resp.Mailboxes[0].Name) != name {
		return fmt.Errorf("ListMailboxes(%s) at revision %d (asked for %d) = %d entries, want it", name, resp.Revision, *seen, len(resp.Mailboxes))
	}
	if resp.Revision < *seen {
		return fmt.Errorf("ListMailboxes answered at revision %d, asked for %d", resp.Revision, *seen)
	}
	*seen = resp.Revision
	return nil
}

// watchedAfter checks that a Watch listing at min_revision shows name.
func watchedAfter(ctx context.Context, mc roostv1.MailboxServiceClient, name string, seen uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := mc.Watch(ctx, &roostv1.WatchRequest{IncludeListing: true, Prefix: []byte(name), MinRevision: seen})
	if err != nil {
		return err
	}
	var listed []string
	for {
		msg, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("Watch(%s): %w", name, err)
		}
		for _, m := range msg.Listing {
			listed = append(listed, string(m.Name))
		}
		if !msg.ListingComplete {
			continue
		}
		if len(listed) != 1 || listed[0] != name || msg.Revision < seen {
			return fmt.Errorf("Watch(%s) listing at revision %d (asked for %d) = %q, want it", name, msg.Revision, seen, listed)
		}
		return nil
	}
}

// TestMinRevisionBeyondTheLog checks that a read asking for a revision the
// cluster has not reached fails as Unavailable within the node's wait,
// instead of answering from an older state or hanging.
func TestMinRevisionBeyondTheLog(t *testing.T) {
	t.Parallel()
	n := &testNode{id: "mr1"}
	startNode(t, n, nil, false)
	waitMembers(t, []*testNode{n}, map[string]bool{"mr1": true})
	ctx := context.Background()
	far := n.n.Store().FSM().AppliedIndex() + 1_000_000
	start := time.Now()
	_, err := n.mailboxes().GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.x"), MinRevision: far})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("GetMailbox(min_revision %d) = %v, want Unavailable", far, err)
	}
	if d := time.Since(start); d > 2*fastStore().LeaderWait {
		t.Errorf("GetMailbox(min_revision %d) took %v, want at most about %v", far, d, fastStore().LeaderWait)
	}
}

// TestMupdateLinearizableReads checks that with linearizable MUPDATE reads
// a follower's FIND shows a write that another client, on another node,
// was just answered OK for: Cyrus's single-master view across clients.
func TestMupdateLinearizableReads(t *testing.T) {
	nodes := startThreeWith(t, "lr", func(tn *testNode) { tn.linearizable = true })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dial := func(tn *testNode) *mupdatecompat.Client {
		c, err := mupdatecompat.Dial(ctx, tn.mupdateAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
			t.Fatal(err)
		}
		return c
	}
	fs := followersOf(nodes)
	writer, reader := dial(leaderOf(nodes)), dial(fs[0])
	for i := range 300 {
		name := fmt.Sprintf("user.lin%04d", i)
		if err := writer.Activate(name, "lin!default", ""); err != nil {
			t.Fatalf("ACTIVATE %s on the leader: %v", name, err)
		}
		m, err := reader.Find(name)
		if err != nil || m == nil || m.State != raftfsm.StateActive {
			t.Fatalf("FIND %s on follower %s right after the leader's OK = %+v, %v; want it active", name, fs[0].id, m, err)
		}
	}
}
