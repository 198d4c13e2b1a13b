package grpcserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// waitTimeout bounds every wait and call of these tests.
const waitTimeout = 10 * time.Second

// testNode is one store, bootstrapped as a single-node cluster, served by
// a Server on a real gRPC server on loopback.
type testNode struct {
	store *raftfsm.Store
	srv   *Server
	addr  string // gRPC
	mb    roostv1.MailboxServiceClient
	cl    roostv1.ClusterServiceClient
}

func startTestNode(t testing.TB) *testNode {
	t.Helper()
	store := openStore(t, "n1", true)
	fwd := NewForwarder(store, nil)
	t.Cleanup(func() { fwd.Close() })
	srv := New(store, fwd, nil)
	g := grpc.NewServer((&Authenticator{}).ServerOptions()...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen() = %v, want nil error", err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	t.Cleanup(func() {
		srv.Close()
		g.Stop()
		if err := <-served; err != nil {
			t.Errorf("grpc.Server.Serve() = %v, want nil after Stop", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%s) = %v, want nil error", lis.Addr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	waitFor(t, "the store to lead", store.IsLeader)
	return &testNode{store: store, srv: srv, addr: lis.Addr().String(),
		mb: roostv1.NewMailboxServiceClient(conn), cl: roostv1.NewClusterServiceClient(conn)}
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v", what, waitTimeout)
		}
		<-tick.C
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, call string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s = %v, want code %v", call, err, want)
	}
}

func mustActivate(t *testing.T, n *testNode, name, loc, acl string) *roostv1.ActivateResponse {
	t.Helper()
	resp, err := n.mb.Activate(testContext(t), &roostv1.ActivateRequest{Name: []byte(name), Location: []byte(loc), Acl: []byte(acl)})
	if err != nil {
		t.Fatalf("Activate(%q, %q) = %v, want nil error", name, loc, err)
	}
	return resp
}

func mustReserve(t *testing.T, n *testNode, name, loc string) *roostv1.ReserveResponse {
	t.Helper()
	resp, err := n.mb.Reserve(testContext(t), &roostv1.ReserveRequest{Name: []byte(name), Location: []byte(loc)})
	if err != nil {
		t.Fatalf("Reserve(%q, %q) = %v, want nil error", name, loc, err)
	}
	return resp
}

func mustGet(t *testing.T, n *testNode, name string) *roostv1.Mailbox {
	t.Helper()
	resp, err := n.mb.GetMailbox(testContext(t), &roostv1.GetMailboxRequest{Name: []byte(name)})
	if err != nil {
		t.Fatalf("GetMailbox(%q) = %v, want nil error", name, err)
	}
	return resp.Mailbox
}

func wantAbsent(t *testing.T, n *testNode, name string) {
	t.Helper()
	_, err := n.mb.GetMailbox(testContext(t), &roostv1.GetMailboxRequest{Name: []byte(name)})
	wantCode(t, fmt.Sprintf("GetMailbox(%q)", name), err, codes.NotFound)
}

// mailbox is the comparable form of a roostv1.Mailbox.
func mailbox(p *roostv1.Mailbox) raftfsm.Mailbox {
	if p == nil {
		return raftfsm.Mailbox{}
	}
	return *mailboxFromProto(p)
}

func protoNames(ms []*roostv1.Mailbox) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Name)
	}
	return out
}

func activateOp(name, loc, acl string) *roostv1.Operation {
	return OpToProto(raftfsm.Op{Kind: raftfsm.OpActivate, Name: name, Location: loc, ACL: acl})
}

func reserveOp(name, loc string) *roostv1.Operation {
	return OpToProto(raftfsm.Op{Kind: raftfsm.OpReserve, Name: name, Location: loc})
}

func deactivateOp(name, loc string) *roostv1.Operation {
	return OpToProto(raftfsm.Op{Kind: raftfsm.OpDeactivate, Name: name, Location: loc})
}

func deleteOp(name string) *roostv1.Operation {
	return OpToProto(raftfsm.Op{Kind: raftfsm.OpDelete, Name: name})
}

func mustBatch(t *testing.T, n *testNode, atomic bool, ops ...*roostv1.Operation) *roostv1.BatchResponse {
	t.Helper()
	resp, err := n.mb.Batch(testContext(t), &roostv1.BatchRequest{Operations: ops, Atomic: atomic})
	if err != nil {
		t.Fatalf("Batch(%d ops, atomic %v) = %v, want nil error", len(ops), atomic, err)
	}
	if len(resp.Results) != len(ops) {
		t.Fatalf("Batch(%d ops) = %d results, want %d", len(ops), len(resp.Results), len(ops))
	}
	return resp
}

func statuses(resp *roostv1.BatchResponse) []roostv1.OperationStatus {
	out := make([]roostv1.OperationStatus, len(resp.Results))
	for i, r := range resp.Results {
		out[i] = r.Status
	}
	return out
}

func TestMailboxLifecycle(t *testing.T) {
	n := startTestNode(t)
	ctx := testContext(t)

	res := mustReserve(t, n, "user.jane", loc1)
	want := raftfsm.Mailbox{Name: "user.jane", State: raftfsm.StateReserved, Location: loc1,
		CreateRevision: res.Revision, ModifyRevision: res.Revision}
	if got := mailbox(res.Mailbox); res.Revision == 0 || got != want {
		t.Fatalf("Reserve(user.jane) = %+v at %d, want %+v", got, res.Revision, want)
	}
	got, err := n.mb.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.jane")})
	if err != nil || mailbox(got.Mailbox) != want || got.Revision < res.Revision {
		t.Fatalf("GetMailbox(user.jane) = %v, %v, want %+v at revision >= %d", got, err, want, res.Revision)
	}

	act := mustActivate(t, n, "user.jane", loc1, testACL)
	want = raftfsm.Mailbox{Name: "user.jane", State: raftfsm.StateActive, Location: loc1, ACL: testACL,
		CreateRevision: res.Revision, ModifyRevision: act.Revision}
	if got := mailbox(act.Mailbox); act.Revision <= res.Revision || got != want {
		t.Fatalf("Activate(user.jane) = %+v at %d, want %+v after %d", got, act.Revision, want, res.Revision)
	}
	if got := mailbox(mustGet(t, n, "user.jane")); got != want {
		t.Errorf("GetMailbox(user.jane) after Activate = %+v, want %+v", got, want)
	}
	if !bytes.Equal(mustGet(t, n, "user.jane").Acl, []byte(testACL)) {
		t.Errorf("GetMailbox(user.jane).Acl is not byte-exact, want %q", testACL)
	}
	// Activating again with the same values changes nothing.
	if again := mustActivate(t, n, "user.jane", loc1, testACL); mailbox(again.Mailbox) != want {
		t.Errorf("Activate(user.jane) again = %+v, want the entry unchanged %+v", mailbox(again.Mailbox), want)
	}

	deact, err := n.mb.Deactivate(ctx, &roostv1.DeactivateRequest{Name: []byte("user.jane"), Location: []byte(loc2)})
	if err != nil {
		t.Fatalf("Deactivate(user.jane) = %v, want nil error", err)
	}
	want = raftfsm.Mailbox{Name: "user.jane", State: raftfsm.StateReserved, Location: loc2,
		CreateRevision: res.Revision, ModifyRevision: deact.Revision}
	if got := mailbox(deact.Mailbox); got != want {
		t.Errorf("Deactivate(user.jane) = %+v, want %+v", got, want)
	}
	_, err = n.mb.Deactivate(ctx, &roostv1.DeactivateRequest{Name: []byte("user.jane"), Location: []byte(loc2)})
	wantCode(t, "Deactivate(reserved user.jane)", err, codes.FailedPrecondition)

	del, err := n.mb.Delete(ctx, &roostv1.DeleteRequest{Name: []byte("user.jane")})
	if err != nil || !del.Existed || del.Revision <= deact.Revision {
		t.Fatalf("Delete(user.jane) = %v, %v, want existed after revision %d", del, err, deact.Revision)
	}
	wantAbsent(t, n, "user.jane")
	del, err = n.mb.Delete(ctx, &roostv1.DeleteRequest{Name: []byte("user.jane")})
	if err != nil || del.Existed {
		t.Errorf("Delete(user.jane) again = %v, %v, want success with existed false", del, err)
	}
	_, err = n.mb.Deactivate(ctx, &roostv1.DeactivateRequest{Name: []byte("user.jane"), Location: []byte(loc2)})
	wantCode(t, "Deactivate(deleted user.jane)", err, codes.NotFound)
}

func TestWriteErrors(t *testing.T) {
	n := startTestNode(t)
	mustActivate(t, n, "user.jane", loc1, testACL)
	mustReserve(t, n, "user.bob", loc2)
	before := listNames(t, n, &roostv1.ListMailboxesRequest{})

	b := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name string
		call func(context.Context) error
		want codes.Code
	}{
		{"reserve elsewhere", func(ctx context.Context) error {
			_, err := n.mb.Reserve(ctx, &roostv1.ReserveRequest{Name: b("user.jane"), Location: b(loc2)})
			return err
		}, codes.AlreadyExists},
		{"deactivate missing", func(ctx context.Context) error {
			_, err := n.mb.Deactivate(ctx, &roostv1.DeactivateRequest{Name: b("user.none"), Location: b(loc1)})
			return err
		}, codes.NotFound},
		{"deactivate reserved", func(ctx context.Context) error {
			_, err := n.mb.Deactivate(ctx, &roostv1.DeactivateRequest{Name: b("user.bob"), Location: b(loc1)})
			return err
		}, codes.FailedPrecondition},
		{"reserve empty name", func(ctx context.Context) error {
			_, err := n.mb.Reserve(ctx, &roostv1.ReserveRequest{Location: b(loc1)})
			return err
		}, codes.InvalidArgument},
		{"activate empty name", func(ctx context.Context) error {
			_, err := n.mb.Activate(ctx, &roostv1.ActivateRequest{Location: b(loc1), Acl: b(testACL)})
			return err
		}, codes.InvalidArgument},
		{"deactivate empty name", func(ctx context.Context) error {
			_, err := n.mb.Deactivate(ctx, &roostv1.DeactivateRequest{Location: b(loc1)})
			return err
		}, codes.InvalidArgument},
		{"delete empty name", func(ctx context.Context) error {
			_, err := n.mb.Delete(ctx, &roostv1.DeleteRequest{})
			return err
		}, codes.InvalidArgument},
		{"name with LF", func(ctx context.Context) error {
			_, err := n.mb.Reserve(ctx, &roostv1.ReserveRequest{Name: b("user.ja\nne"), Location: b(loc1)})
			return err
		}, codes.InvalidArgument},
		{"name with CR", func(ctx context.Context) error {
			_, err := n.mb.Activate(ctx, &roostv1.ActivateRequest{Name: b("user.jane\r"), Location: b(loc1)})
			return err
		}, codes.InvalidArgument},
		{"name with NUL", func(ctx context.Context) error {
			_, err := n.mb.Delete(ctx, &roostv1.DeleteRequest{Name: b("user.jane\x00")})
			return err
		}, codes.InvalidArgument},
		{"name with 0x1F", func(ctx context.Context) error {
			_, err := n.mb.Activate(ctx, &roostv1.ActivateRequest{Name: b("user.jane\x1fx"), Location: b(loc1)})
			return err
		}, codes.InvalidArgument},
		{"name too long", func(ctx context.Context) error {
			_, err := n.mb.Reserve(ctx, &roostv1.ReserveRequest{Name: b("user." + strings.Repeat("x", raftfsm.MaxNameLen)), Location: b(loc1)})
			return err
		}, codes.InvalidArgument},
		{"empty location", func(ctx context.Context) error {
			_, err := n.mb.Reserve(ctx, &roostv1.ReserveRequest{Name: b("user.new")})
			return err
		}, codes.InvalidArgument},
		{"location with two bangs", func(ctx context.Context) error {
			_, err := n.mb.Activate(ctx, &roostv1.ActivateRequest{Name: b("user.new"), Location: b("a!b!c")})
			return err
		}, codes.InvalidArgument},
		{"ACL with LF", func(ctx context.Context) error {
			_, err := n.mb.Activate(ctx, &roostv1.ActivateRequest{Name: b("user.jane"), Location: b(loc1), Acl: b("anyone\tlrs\n")})
			return err
		}, codes.InvalidArgument},
		{"empty batch", func(ctx context.Context) error {
			_, err := n.mb.Batch(ctx, &roostv1.BatchRequest{})
			return err
		}, codes.InvalidArgument},
		{"batch with an empty operation", func(ctx context.Context) error {
			_, err := n.mb.Batch(ctx, &roostv1.BatchRequest{Operations: []*roostv1.Operation{deleteOp("user.jane"), {}}})
			return err
		}, codes.InvalidArgument},
		{"get missing", func(ctx context.Context) error {
			_, err := n.mb.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: b("user.none")})
			return err
		}, codes.NotFound},
		{"pattern too long", func(ctx context.Context) error {
			_, err := n.mb.ListMailboxes(ctx, &roostv1.ListMailboxesRequest{Pattern: bytes.Repeat(b("%"), raftfsm.MaxPatternLen+1)})
			return err
		}, codes.InvalidArgument},
		{"remove unknown member", func(ctx context.Context) error {
			_, err := n.cl.Remove(ctx, &roostv1.RemoveRequest{Id: "n9"})
			return err
		}, codes.NotFound},
		{"transfer to unknown member", func(ctx context.Context) error {
			_, err := n.cl.TransferLeadership(ctx, &roostv1.TransferLeadershipRequest{Id: "n9"})
			return err
		}, codes.NotFound},
		{"join without ID", func(ctx context.Context) error {
			_, err := n.cl.Join(ctx, &roostv1.JoinRequest{RaftAddress: "127.0.0.1:1"})
			return err
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, tt.call(testContext(t)), tt.want)
		})
	}
	if after := listNames(t, n, &roostv1.ListMailboxesRequest{}); !slices.Equal(after, before) {
		t.Errorf("ListMailboxes() after refused writes = %q, want %q", after, before)
	}
	if got := mailbox(mustGet(t, n, "user.jane")); got.State != raftfsm.StateActive || got.ACL != testACL || got.Location != loc1 {
		t.Errorf("GetMailbox(user.jane) after refused writes = %+v, want it unchanged", got)
	}
}

// listTestNames are stored by TestListMailboxes: separators, escaped dots
// and domains make Cyrus order differ from byte order.
var listTestNames = []string{
	"user.jane", "user.jane.Sent", "user.jane.Sent.2023", "user.jane-x", "user.jane^x", "user.janex",
	"user.bob", "user.bob.Trash", "example.com!user.a", "example.com!user.a.Trash", "example.com!user.a-b",
	"e!user.z", "shared.lists", "DELETED.user.bob.Trash.65B7B6BC",
}

// listAll lists through every page of page size pageSize (0: one call).
func listAll(t *testing.T, n *testNode, req *roostv1.ListMailboxesRequest, pageSize uint32) []*roostv1.Mailbox {
	t.Helper()
	req.PageSize = pageSize
	req.PageToken = nil
	var out []*roostv1.Mailbox
	for page := 0; ; page++ {
		if page > len(listTestNames)+1 {
			t.Fatalf("ListMailboxes(%v) still returns a page token after %d pages", req, page)
		}
		resp, err := n.mb.ListMailboxes(testContext(t), req)
		if err != nil {
			t.Fatalf("ListMailboxes(%v) = %v, want nil error", req, err)
		}
		if pageSize > 0 && len(resp.Mailboxes) > int(pageSize) {
			t.Errorf("ListMailboxes(%v) = %d entries, want at most %d", req, len(resp.Mailboxes), pageSize)
		}
		out = append(out, resp.Mailboxes...)
		if len(resp.NextPageToken) == 0 {
			return out
		}
		if len(resp.Mailboxes) == 0 {
			t.Fatalf("ListMailboxes(%v) = no entries with a page token, want entries", req)
		}
		req.PageToken = resp.NextPageToken
	}
}

func listNames(t *testing.T, n *testNode, req *roostv1.ListMailboxesRequest) []string {
	t.Helper()
	return protoNames(listAll(t, n, req, 0))
}

func TestListMailboxes(t *testing.T) {
	n := startTestNode(t)
	stored := map[string]raftfsm.Mailbox{}
	var ops []*roostv1.Operation
	for i, name := range listTestNames {
		loc := []string{loc1, loc2, "be10!default"}[i%3]
		if i%4 == 3 {
			ops = append(ops, reserveOp(name, loc))
			stored[name] = raftfsm.Mailbox{Name: name, State: raftfsm.StateReserved, Location: loc}
		} else {
			acl := fmt.Sprintf("u%d\tlrs\t", i)
			ops = append(ops, activateOp(name, loc, acl))
			stored[name] = raftfsm.Mailbox{Name: name, State: raftfsm.StateActive, Location: loc, ACL: acl}
		}
	}
	batch := mustBatch(t, n, false, ops...)
	for i, r := range batch.Results {
		if r.Status != roostv1.OperationStatus_OPERATION_STATUS_OK {
			t.Fatalf("Batch op %d (%s) = %v %s, want OK", i, listTestNames[i], r.Status, r.Message)
		}
	}
	cyrus := slices.SortedFunc(slices.Values(listTestNames), raftfsm.CompareCyrus)
	byteOrder := slices.Sorted(slices.Values(listTestNames))
	if slices.Equal(cyrus, byteOrder) {
		t.Fatalf("test names sort alike in Cyrus and byte order, want them to differ")
	}
	filter := func(all []string, keep func(string) bool) []string {
		var out []string
		for _, s := range all {
			if keep(s) {
				out = append(out, s)
			}
		}
		return out
	}
	only := func(names ...string) func(string) bool {
		return func(s string) bool { return slices.Contains(names, s) }
	}
	atLoc := func(prefix string) func(string) bool {
		return func(s string) bool { return strings.HasPrefix(stored[s].Location, prefix) }
	}
	bytesOrder := roostv1.ListOrder_LIST_ORDER_BYTES
	tests := []struct {
		name string
		req  *roostv1.ListMailboxesRequest
		want []string
	}{
		{"all, Cyrus order", &roostv1.ListMailboxesRequest{}, cyrus},
		{"all, explicit Cyrus order", &roostv1.ListMailboxesRequest{Order: roostv1.ListOrder_LIST_ORDER_CYRUS}, cyrus},
		{"all, byte order", &roostv1.ListMailboxesRequest{Order: bytesOrder}, byteOrder},
		{"prefix", &roostv1.ListMailboxesRequest{Prefix: []byte("user.jane")},
			filter(cyrus, func(s string) bool { return strings.HasPrefix(s, "user.jane") })},
		{"prefix, byte order", &roostv1.ListMailboxesRequest{Prefix: []byte("user.jane"), Order: bytesOrder},
			filter(byteOrder, func(s string) bool { return strings.HasPrefix(s, "user.jane") })},
		{"domain prefix", &roostv1.ListMailboxesRequest{Prefix: []byte("e")},
			filter(cyrus, func(s string) bool { return strings.HasPrefix(s, "e") })},
		{"pattern %", &roostv1.ListMailboxesRequest{Pattern: []byte("user.%")},
			filter(cyrus, only("user.jane", "user.jane-x", "user.jane^x", "user.janex", "user.bob"))},
		{"pattern *", &roostv1.ListMailboxesRequest{Pattern: []byte("*.Trash")},
			filter(cyrus, only("user.bob.Trash", "example.com!user.a.Trash"))},
		{"pattern, byte order", &roostv1.ListMailboxesRequest{Pattern: []byte("user.jane%"), Order: bytesOrder},
			filter(byteOrder, only("user.jane", "user.jane-x", "user.jane^x", "user.janex"))},
		{"location prefix", &roostv1.ListMailboxesRequest{LocationPrefix: []byte("be02!")}, filter(cyrus, atLoc("be02!"))},
		{"location prefix, byte order", &roostv1.ListMailboxesRequest{LocationPrefix: []byte("be1"), Order: bytesOrder},
			filter(byteOrder, atLoc("be1"))},
		{"prefix and location", &roostv1.ListMailboxesRequest{Prefix: []byte("user."), LocationPrefix: []byte("be01!")},
			filter(cyrus, func(s string) bool { return strings.HasPrefix(s, "user.") && atLoc("be01!")(s) })},
		{"no match", &roostv1.ListMailboxesRequest{Prefix: []byte("nothing")}, nil},
	}
	for _, tt := range tests {
		for _, pageSize := range []uint32{0, 1, 2, 5} {
			t.Run(fmt.Sprintf("%s, page size %d", tt.name, pageSize), func(t *testing.T) {
				got := listAll(t, n, tt.req, pageSize)
				if names := protoNames(got); !slices.Equal(names, tt.want) {
					t.Errorf("ListMailboxes(%v) pages of %d = %q, want %q", tt.req, pageSize, names, tt.want)
				}
				for _, m := range got {
					want := stored[string(m.Name)]
					want.CreateRevision, want.ModifyRevision = batch.Revision, batch.Revision
					if mailbox(m) != want {
						t.Errorf("ListMailboxes() entry = %+v, want %+v", mailbox(m), want)
					}
				}
			})
		}
	}
	resp, err := n.mb.ListMailboxes(testContext(t), &roostv1.ListMailboxesRequest{PageSize: 2, Consistent: true})
	if err != nil || resp.Revision != batch.Revision || len(resp.NextPageToken) == 0 {
		t.Errorf("ListMailboxes(page size 2, consistent) = %v, %v, want revision %d and a page token", resp, err, batch.Revision)
	}
}

func TestBatch(t *testing.T) {
	n := startTestNode(t)
	mustActivate(t, n, "user.jane", loc1, testACL)
	mustReserve(t, n, "user.bob", loc2)
	const (
		ok        = roostv1.OperationStatus_OPERATION_STATUS_OK
		exists    = roostv1.OperationStatus_OPERATION_STATUS_ALREADY_EXISTS
		notFound  = roostv1.OperationStatus_OPERATION_STATUS_NOT_FOUND
		notActive = roostv1.OperationStatus_OPERATION_STATUS_NOT_ACTIVE
		invalid   = roostv1.OperationStatus_OPERATION_STATUS_INVALID
		aborted   = roostv1.OperationStatus_OPERATION_STATUS_ABORTED
	)
	wantUnchanged := func(t *testing.T) {
		t.Helper()
		if got := listNames(t, n, &roostv1.ListMailboxesRequest{}); !slices.Equal(got, []string{"user.bob", "user.jane"}) {
			t.Errorf("ListMailboxes() after refused atomic batch = %q, want [user.bob user.jane]", got)
		}
		if got := mailbox(mustGet(t, n, "user.jane")); got.State != raftfsm.StateActive || got.Location != loc1 {
			t.Errorf("GetMailbox(user.jane) after refused atomic batch = %+v, want active at %s", got, loc1)
		}
	}

	t.Run("confined to servers", func(t *testing.T) {
		del, deact := deleteOp("user.jane"), deactivateOp("user.jane", loc1)
		del.OnlyOnServers, deact.OnlyOnServers = [][]byte{[]byte("be02")}, [][]byte{[]byte("be02"), []byte("be01")}
		// Until the node declares that it reads them, confined
		// operations are refused, not applied unchecked.
		_, err := n.mb.Batch(testContext(t), &roostv1.BatchRequest{Operations: []*roostv1.Operation{del}})
		if status.Code(err) != codes.Unavailable {
			t.Errorf("Batch(confined delete) before the log format is declared = %v, want Unavailable", err)
		}
		wantUnchanged(t)
		// As roostd does: declare the log format.
		if err := n.store.SetMember(testContext(t), raftfsm.Member{ID: "n1", GRPCAddr: n.addr, LogFormat: raftfsm.LogFormat}); err != nil {
			t.Fatalf("SetMember(n1) = %v, want nil error", err)
		}
		resp := mustBatch(t, n, true, del)
		if got, want := statuses(resp), []roostv1.OperationStatus{roostv1.OperationStatus_OPERATION_STATUS_WRONG_SERVER}; !slices.Equal(got, want) {
			t.Errorf("Batch(delete user.jane only on be02) statuses = %v, want %v", got, want)
		}
		wantUnchanged(t)
		resp = mustBatch(t, n, true, deact, activateOp("user.jane", loc1, testACL))
		if got, want := statuses(resp), []roostv1.OperationStatus{ok, ok}; !slices.Equal(got, want) {
			t.Errorf("Batch(deactivate user.jane only on be02 or be01, activate) statuses = %v, want %v", got, want)
		}
		wantUnchanged(t)
	})
	t.Run("atomic, refused when applied", func(t *testing.T) {
		resp := mustBatch(t, n, true, activateOp("user.new1", loc1, ""), deleteOp("user.jane"), deactivateOp("user.bob", loc1))
		if got, want := statuses(resp), []roostv1.OperationStatus{aborted, aborted, notActive}; !slices.Equal(got, want) {
			t.Errorf("Batch(atomic) statuses = %v, want %v", got, want)
		}
		for i, r := range resp.Results {
			if r.Message == "" || r.Mailbox != nil {
				t.Errorf("Batch(atomic) result %d = %v, want a message and no mailbox", i, r)
			}
		}
		wantUnchanged(t)
	})
	t.Run("atomic, refused before proposing", func(t *testing.T) {
		resp := mustBatch(t, n, true, activateOp("user.new1", loc1, ""), reserveOp("", loc1), deleteOp("user.bob"))
		if got, want := statuses(resp), []roostv1.OperationStatus{aborted, invalid, aborted}; !slices.Equal(got, want) {
			t.Errorf("Batch(atomic, one invalid) statuses = %v, want %v", got, want)
		}
		wantUnchanged(t)
	})
	t.Run("atomic, applied", func(t *testing.T) {
		resp := mustBatch(t, n, true, reserveOp("user.new2", loc2), activateOp("user.new2", loc2, testACL2), activateOp("user.new3", loc1, ""))
		if got, want := statuses(resp), []roostv1.OperationStatus{ok, ok, ok}; !slices.Equal(got, want) {
			t.Fatalf("Batch(atomic) statuses = %v, want %v", got, want)
		}
		want := raftfsm.Mailbox{Name: "user.new2", State: raftfsm.StateActive, Location: loc2, ACL: testACL2,
			CreateRevision: resp.Revision, ModifyRevision: resp.Revision}
		if got := mailbox(mustGet(t, n, "user.new2")); got != want {
			t.Errorf("GetMailbox(user.new2) = %+v, want %+v", got, want)
		}
		if got := mustGet(t, n, "user.new3").ModifyRevision; got != resp.Revision {
			t.Errorf("GetMailbox(user.new3).ModifyRevision = %d, want the batch's revision %d", got, resp.Revision)
		}
	})
	t.Run("non-atomic", func(t *testing.T) {
		resp := mustBatch(t, n, false,
			activateOp("user.c", loc1, testACL),
			reserveOp("user.bob", loc1),
			deactivateOp("user.missing", loc1),
			reserveOp("", loc1),
			deactivateOp("user.bob", loc1),
			activateOp("user.d", loc2, ""),
			deleteOp("user.c"),
			deleteOp("user.never"),
		)
		if got, want := statuses(resp), []roostv1.OperationStatus{ok, exists, notFound, invalid, notActive, ok, ok, ok}; !slices.Equal(got, want) {
			t.Errorf("Batch(non-atomic) statuses = %v, want %v", got, want)
		}
		for i, r := range resp.Results {
			if (r.Status == ok) == (r.Message != "") {
				t.Errorf("Batch(non-atomic) result %d = %v, want a message exactly when refused", i, r)
			}
		}
		if got := mailbox(resp.Results[0].Mailbox); got.Name != "user.c" || got.ModifyRevision != resp.Revision {
			t.Errorf("Batch result 0 mailbox = %+v, want user.c at the batch's revision %d", got, resp.Revision)
		}
		if !resp.Results[6].Existed || resp.Results[7].Existed || resp.Results[6].Mailbox != nil {
			t.Errorf("Batch DELETE results = %v, %v, want existed and not existed, no mailbox", resp.Results[6], resp.Results[7])
		}
		// One log entry: every change carries the same revision.
		if got := mustGet(t, n, "user.d").ModifyRevision; got != resp.Revision {
			t.Errorf("GetMailbox(user.d).ModifyRevision = %d, want the batch's revision %d", got, resp.Revision)
		}
		st, err := n.cl.GetStatus(testContext(t), &roostv1.GetStatusRequest{})
		if err != nil || st.Revision != resp.Revision {
			t.Errorf("GetStatus() = %v, %v, want revision %d", st, err, resp.Revision)
		}
		wantAbsent(t, n, "user.c")
		if got := mailbox(mustGet(t, n, "user.bob")); got.State != raftfsm.StateReserved || got.Location != loc2 {
			t.Errorf("GetMailbox(user.bob) = %+v, want reserved at %s", got, loc2)
		}
	})
}

// recvWatch receives one message.
func recvWatch(t *testing.T, stream grpc.ServerStreamingClient[roostv1.WatchResponse]) *roostv1.WatchResponse {
	t.Helper()
	msg, err := stream.Recv()
	if err != nil {
		t.Fatalf("Watch Recv() = %v, want a message", err)
	}
	return msg
}

// watchEvent is the comparable part of an event.
type watchEvent struct {
	rev  uint64
	typ  roostv1.EventType
	name string
}

// recvEvents receives until the stream has reached revision rev.
func recvEvents(t *testing.T, stream grpc.ServerStreamingClient[roostv1.WatchResponse], rev uint64) []watchEvent {
	t.Helper()
	var out []watchEvent
	for {
		msg := recvWatch(t, stream)
		if len(msg.Listing) > 0 || msg.ListingComplete {
			t.Fatalf("Watch message after the listing = %v, want events only", msg)
		}
		for _, ev := range msg.Events {
			if ev.Revision > msg.Revision {
				t.Errorf("Watch event at %d in a message at revision %d, want <= it", ev.Revision, msg.Revision)
			}
			out = append(out, watchEvent{ev.Revision, ev.Type, string(ev.Mailbox.GetName())})
		}
		if msg.Revision >= rev {
			return out
		}
	}
}

func watchStream(t *testing.T, n *testNode, req *roostv1.WatchRequest) grpc.ServerStreamingClient[roostv1.WatchResponse] {
	t.Helper()
	stream, err := n.mb.Watch(testContext(t), req)
	if err != nil {
		t.Fatalf("Watch(%v) = %v, want nil error", req, err)
	}
	return stream
}

func TestWatchWithListing(t *testing.T) {
	n := startTestNode(t)
	setup := mustBatch(t, n, false, activateOp("user.jane", loc1, testACL), activateOp("user.jane.Sent", loc1, testACL),
		reserveOp("example.com!user.a", loc2), activateOp("user.jane-x", loc2, ""))

	stream := watchStream(t, n, &roostv1.WatchRequest{IncludeListing: true})
	msg := recvWatch(t, stream)
	wantList := []string{"user.jane", "user.jane.Sent", "user.jane-x", "example.com!user.a"}
	wantList = slices.SortedFunc(slices.Values(wantList), raftfsm.CompareCyrus)
	if got := protoNames(msg.Listing); !msg.ListingComplete || msg.Revision != setup.Revision || !slices.Equal(got, wantList) || len(msg.Events) > 0 {
		t.Fatalf("Watch(include_listing) first message = listing %q complete %v at %d with %d events, want %q complete at %d",
			got, msg.ListingComplete, msg.Revision, len(msg.Events), wantList, setup.Revision)
	}
	for _, m := range msg.Listing {
		if got := mailbox(m); got.Name == "user.jane" && (got.ACL != testACL || got.State != raftfsm.StateActive || got.CreateRevision != setup.Revision) {
			t.Errorf("Watch listing entry = %+v, want active with ACL %q at %d", got, testACL, setup.Revision)
		}
	}

	act := mustActivate(t, n, "user.new", loc1, testACL2)
	del, err := n.mb.Delete(testContext(t), &roostv1.DeleteRequest{Name: []byte("user.jane")})
	if err != nil {
		t.Fatalf("Delete(user.jane) = %v, want nil error", err)
	}
	got := recvEvents(t, stream, del.Revision)
	want := []watchEvent{
		{act.Revision, roostv1.EventType_EVENT_TYPE_PUT, "user.new"},
		{del.Revision, roostv1.EventType_EVENT_TYPE_DELETE, "user.jane"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Watch events = %v, want %v", got, want)
	}

	// A prefix narrows both the listing and the events.
	stream = watchStream(t, n, &roostv1.WatchRequest{IncludeListing: true, Prefix: []byte("example.com!")})
	msg = recvWatch(t, stream)
	if got := protoNames(msg.Listing); !msg.ListingComplete || !slices.Equal(got, []string{"example.com!user.a"}) || msg.Revision != del.Revision {
		t.Fatalf("Watch(prefix example.com!) listing = %q complete %v at %d, want [example.com!user.a] at %d",
			got, msg.ListingComplete, msg.Revision, del.Revision)
	}
	mustActivate(t, n, "user.other", loc1, "")
	in := mustActivate(t, n, "example.com!user.b", loc1, "")
	if got, want := recvEvents(t, stream, in.Revision), []watchEvent{{in.Revision, roostv1.EventType_EVENT_TYPE_PUT, "example.com!user.b"}}; !slices.Equal(got, want) {
		t.Errorf("Watch(prefix example.com!) events = %v, want %v", got, want)
	}
}

func TestWatchFromRevision(t *testing.T) {
	n := startTestNode(t)
	r1 := mustActivate(t, n, "user.a", loc1, "").Revision
	r2 := mustReserve(t, n, "user.b", loc2).Revision
	r3 := mustActivate(t, n, "user.a", loc2, testACL).Revision

	stream := watchStream(t, n, &roostv1.WatchRequest{AfterRevision: r1})
	want := []watchEvent{{r2, roostv1.EventType_EVENT_TYPE_PUT, "user.b"}, {r3, roostv1.EventType_EVENT_TYPE_PUT, "user.a"}}
	if got := recvEvents(t, stream, r3); !slices.Equal(got, want) {
		t.Errorf("Watch(after %d) events = %v, want %v", r1, got, want)
	}
	r4 := mustActivate(t, n, "user.c", loc1, "").Revision
	if got, want := recvEvents(t, stream, r4), []watchEvent{{r4, roostv1.EventType_EVENT_TYPE_PUT, "user.c"}}; !slices.Equal(got, want) {
		t.Errorf("Watch(after %d) later events = %v, want %v", r1, got, want)
	}

	// From the start: every change, nothing twice.
	stream = watchStream(t, n, &roostv1.WatchRequest{})
	put := roostv1.EventType_EVENT_TYPE_PUT
	want = []watchEvent{{r1, put, "user.a"}, {r2, put, "user.b"}, {r3, put, "user.a"}, {r4, put, "user.c"}}
	if got := recvEvents(t, stream, r4); !slices.Equal(got, want) {
		t.Errorf("Watch(after 0) events = %v, want %v", got, want)
	}
}

// TestWatchProgress: a quiet stream that asked for progress messages gets
// them, with nothing in them but how far it is, and changes still arrive
// between them.
func TestWatchProgress(t *testing.T) {
	n := startTestNode(t)
	r1 := mustActivate(t, n, "user.a", loc1, "").Revision
	stream := watchStream(t, n, &roostv1.WatchRequest{AfterRevision: r1, ProgressInterval: durationpb.New(time.Millisecond)})
	for range 3 {
		if msg := recvWatch(t, stream); len(msg.Events) != 0 || msg.Revision != r1 || msg.NodeRevision < r1 {
			t.Fatalf("progress message = %v, want no events at revision %d", msg, r1)
		}
	}
	r2 := mustActivate(t, n, "user.b", loc1, "").Revision
	if got, want := recvEvents(t, stream, r2), []watchEvent{{r2, roostv1.EventType_EVENT_TYPE_PUT, "user.b"}}; !slices.Equal(got, want) {
		t.Errorf("events after progress messages = %v, want %v", got, want)
	}
}

func TestWatchEndsOnServerClose(t *testing.T) {
	n := startTestNode(t)
	stream := watchStream(t, n, &roostv1.WatchRequest{IncludeListing: true})
	if msg := recvWatch(t, stream); !msg.ListingComplete {
		t.Fatalf("Watch first message = %v, want a complete listing", msg)
	}
	n.srv.Close()
	_, err := stream.Recv()
	wantCode(t, "Watch Recv() after Server.Close", err, codes.Unavailable)
}

// saveSnapshot streams a snapshot from the node.
func saveSnapshot(t *testing.T, n *testNode) []byte {
	t.Helper()
	stream, err := n.cl.SaveSnapshot(testContext(t), &roostv1.SaveSnapshotRequest{})
	if err != nil {
		t.Fatalf("SaveSnapshot() = %v, want nil error", err)
	}
	var out []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("SaveSnapshot Recv() = %v, want a chunk or io.EOF", err)
		}
		if len(msg.Chunk) == 0 || len(msg.Chunk) > snapshotChunk {
			t.Errorf("SaveSnapshot chunk of %d bytes, want 1 to %d", len(msg.Chunk), snapshotChunk)
		}
		out = append(out, msg.Chunk...)
	}
}

// restoreSnapshot streams b to the node in chunks of 1000 bytes.
func restoreSnapshot(t *testing.T, n *testNode, b []byte) (*roostv1.RestoreSnapshotResponse, error) {
	t.Helper()
	stream, err := n.cl.RestoreSnapshot(testContext(t))
	if err != nil {
		t.Fatalf("RestoreSnapshot() = %v, want nil error", err)
	}
	for len(b) > 0 {
		k := min(len(b), 1000)
		if err := stream.Send(&roostv1.RestoreSnapshotRequest{Chunk: b[:k]}); err != nil {
			// The server has answered; CloseAndRecv tells why.
			break
		}
		b = b[k:]
	}
	return stream.CloseAndRecv()
}

func TestSnapshotSaveRestore(t *testing.T) {
	n := startTestNode(t)
	var ops []*roostv1.Operation
	for i := range 300 {
		ops = append(ops, activateOp(fmt.Sprintf("user.u%03d", i), loc1, strings.Repeat(fmt.Sprintf("u%d\tlrswipkxtecdan\t", i), 20)))
	}
	ops = append(ops, reserveOp("example.com!user.a", loc2))
	saved := mustBatch(t, n, false, ops...)
	snap := saveSnapshot(t, n)
	if len(snap) <= 2*1000 {
		t.Fatalf("SaveSnapshot() = %d bytes, want a multi-chunk stream for this test", len(snap))
	}
	want := listAll(t, n, &roostv1.ListMailboxesRequest{}, 0)
	if len(want) != len(ops) {
		t.Fatalf("ListMailboxes() = %d entries, want %d", len(want), len(ops))
	}

	later := mustActivate(t, n, "user.later", loc2, "")
	if _, err := n.mb.Delete(testContext(t), &roostv1.DeleteRequest{Name: []byte("user.u000")}); err != nil {
		t.Fatalf("Delete(user.u000) = %v, want nil error", err)
	}
	changed := listNames(t, n, &roostv1.ListMailboxesRequest{})

	damaged := slices.Clone(snap)
	damaged[len(damaged)/2] ^= 0x20
	for name, b := range map[string][]byte{
		"damaged":        damaged,
		"truncated":      snap[:len(snap)-5],
		"empty":          nil,
		"not a snapshot": []byte("hello, world"),
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := restoreSnapshot(t, n, b)
			wantCode(t, fmt.Sprintf("RestoreSnapshot(%s) = %v;", name, resp), err, codes.InvalidArgument)
			if got := listNames(t, n, &roostv1.ListMailboxesRequest{}); !slices.Equal(got, changed) {
				t.Errorf("ListMailboxes() after RestoreSnapshot(%s) = %d entries, want the %d unchanged", name, len(got), len(changed))
			}
			if m := mailbox(mustGet(t, n, "user.later")); m.ModifyRevision != later.Revision {
				t.Errorf("GetMailbox(user.later) after RestoreSnapshot(%s) = %+v, want it unchanged", name, m)
			}
		})
	}

	watch := watchStream(t, n, &roostv1.WatchRequest{IncludeListing: true})
	recvWatch(t, watch)
	resp, err := restoreSnapshot(t, n, snap)
	if err != nil || resp.Revision != saved.Revision || resp.Mailboxes != uint64(len(ops)) {
		t.Fatalf("RestoreSnapshot(saved) = %v, %v, want revision %d and %d mailboxes", resp, err, saved.Revision, len(ops))
	}
	got := listAll(t, n, &roostv1.ListMailboxesRequest{}, 0)
	if len(got) != len(want) {
		t.Fatalf("ListMailboxes() after restore = %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if mailbox(got[i]) != mailbox(want[i]) {
			t.Errorf("ListMailboxes()[%d] after restore = %+v, want %+v", i, mailbox(got[i]), mailbox(want[i]))
		}
	}
	wantAbsent(t, n, "user.later")
	// Watchers cannot follow a restore: they must list again.
	_, err = watch.Recv()
	wantCode(t, "Watch Recv() after RestoreSnapshot", err, codes.OutOfRange)

	// The restored database takes writes and consistent reads.
	after := mustActivate(t, n, "user.after", loc1, "")
	if after.Revision <= saved.Revision {
		t.Errorf("Activate() after restore at revision %d, want after the restored %d", after.Revision, saved.Revision)
	}
	g, err := n.mb.GetMailbox(testContext(t), &roostv1.GetMailboxRequest{Name: []byte("user.u000"), Consistent: true})
	if err != nil || mailbox(g.Mailbox) != mailbox(want[slices.IndexFunc(want, func(m *roostv1.Mailbox) bool { return string(m.Name) == "user.u000" })]) {
		t.Errorf("GetMailbox(user.u000, consistent) after restore = %v, %v, want the restored entry", g, err)
	}
}

func TestGetStatus(t *testing.T) {
	n := startTestNode(t)
	ctx := testContext(t)
	st, err := n.cl.GetStatus(ctx, &roostv1.GetStatusRequest{})
	if err != nil {
		t.Fatalf("GetStatus() = %v, want nil error", err)
	}
	if st.LeaderGrpcAddress != "" {
		t.Errorf("GetStatus().LeaderGrpcAddress = %q before registration, want empty", st.LeaderGrpcAddress)
	}
	if err := n.store.SetMember(ctx, raftfsm.Member{ID: "n1", GRPCAddr: n.addr}); err != nil {
		t.Fatalf("SetMember(n1) = %v, want nil error", err)
	}
	w := mustActivate(t, n, "user.jane", loc1, testACL)

	// Raft publishes its applied index just after handing entries to the
	// FSM, so it may trail the write for a moment.
	waitFor(t, "GetStatus().applied_index to reach the write", func() bool {
		st, err = n.cl.GetStatus(ctx, &roostv1.GetStatusRequest{})
		if err != nil {
			t.Fatalf("GetStatus() = %v, want nil error", err)
		}
		return st.AppliedIndex >= w.Revision
	})
	checks := []struct {
		field string
		ok    bool
	}{
		{"node_id", st.NodeId == "n1"},
		{"role", st.Role == roostv1.Role_ROLE_LEADER},
		{"leader_id", st.LeaderId == "n1"},
		{"leader_raft_address", st.LeaderRaftAddress == n.store.RaftAddr()},
		{"leader_grpc_address", st.LeaderGrpcAddress == n.addr},
		{"term", st.Term >= 1},
		{"commit_index", st.CommitIndex >= w.Revision},
		{"last_log_index", st.LastLogIndex >= st.CommitIndex},
		{"last_contact", st.LastContact.AsDuration() == 0},
		{"revision", st.Revision == w.Revision},
		{"mailboxes", st.Mailboxes == 1},
		{"members", len(st.Members) == 1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("GetStatus().%s wrong in %v", c.field, st)
		}
	}
	if len(st.Members) == 1 {
		m := st.Members[0]
		if m.Id != "n1" || m.RaftAddress != n.store.RaftAddr() || m.GrpcAddress != n.addr ||
			m.Suffrage != roostv1.Suffrage_SUFFRAGE_VOTER || !m.Leader {
			t.Errorf("GetStatus().Members[0] = %v, want n1 at %s / %s, voter, leader", m, n.store.RaftAddr(), n.addr)
		}
	}
}

func TestReadIndexAndConsistentReads(t *testing.T) {
	n := startTestNode(t)
	ctx := testContext(t)
	w := mustActivate(t, n, "user.jane", loc1, testACL)
	ri, err := n.cl.ReadIndex(ctx, &roostv1.ReadIndexRequest{})
	if err != nil || ri.CommitIndex < w.Revision {
		t.Fatalf("ReadIndex() = %v, %v, want a commit index >= %d", ri, err, w.Revision)
	}
	g, err := n.mb.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.jane"), Consistent: true})
	if err != nil || g.Revision < w.Revision || mailbox(g.Mailbox) != mailbox(w.Mailbox) {
		t.Errorf("GetMailbox(user.jane, consistent) = %v, %v, want %v at revision >= %d", g, err, w.Mailbox, w.Revision)
	}
	_, err = n.mb.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.none"), Consistent: true})
	wantCode(t, "GetMailbox(user.none, consistent)", err, codes.NotFound)
	l, err := n.mb.ListMailboxes(ctx, &roostv1.ListMailboxesRequest{Consistent: true})
	if err != nil || l.Revision < w.Revision || !slices.Equal(protoNames(l.Mailboxes), []string{"user.jane"}) {
		t.Errorf("ListMailboxes(consistent) = %v, %v, want [user.jane] at revision >= %d", l, err, w.Revision)
	}
	// A second read index never goes backwards.
	ri2, err := n.cl.ReadIndex(ctx, &roostv1.ReadIndexRequest{})
	if err != nil || ri2.CommitIndex < ri.CommitIndex {
		t.Errorf("ReadIndex() again = %v, %v, want >= %d", ri2, err, ri.CommitIndex)
	}
}
