package node

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// waitTimeout bounds every wait and call of these tests.
const waitTimeout = 10 * time.Second

const testACL = "anyone\tlrs\tbob\tlrswipkxtecdan\t"

func startNode(t *testing.T, dir string, bootstrap bool) *Node {
	t.Helper()
	n, err := Start(Config{
		NodeID:    "n1",
		DataDir:   dir,
		RaftAddr:  "127.0.0.1:0",
		GRPCAddr:  "127.0.0.1:0",
		HTTPAddr:  "127.0.0.1:0",
		Bootstrap: bootstrap,
		Store: raftfsm.Config{
			HeartbeatTimeout:   50 * time.Millisecond,
			ElectionTimeout:    50 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatalf("Start() = %v, want nil error", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
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

var httpClient = &http.Client{Timeout: waitTimeout}

// get fetches path from the node's HTTP server.
func get(t *testing.T, n *Node, path string) (int, string, error) {
	t.Helper()
	resp, err := httpClient.Get("http://" + n.HTTPAddr() + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func dial(t *testing.T, n *Node) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient(%s) = %v, want nil error", n.GRPCAddr(), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func waitReady(t *testing.T, n *Node) {
	t.Helper()
	waitFor(t, "/readyz to answer 200", func() bool {
		code, _, err := get(t, n, "/readyz")
		return err == nil && code == http.StatusOK
	})
}

func activate(t *testing.T, n *Node, name string) *raftfsm.ApplyResponse {
	t.Helper()
	op := raftfsm.Op{Kind: raftfsm.OpActivate, Name: name, Location: "be01!default", ACL: testACL}
	resp, err := n.Forwarder().Apply(testContext(t), []raftfsm.Op{op}, false)
	if err != nil || len(resp.Results) != 1 || resp.Results[0].Err != nil {
		t.Fatalf("Forwarder().Apply(ACTIVATE %q) = %+v, %v, want success", name, resp, err)
	}
	return resp
}

// metricValue returns the value of the sample whose name and labels
// (as written in the exposition format) are exactly series.
func metricValue(metrics, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != series {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		return v, err == nil
	}
	return 0, false
}

func TestNodeHealthAndReadiness(t *testing.T) {
	n := startNode(t, t.TempDir(), true)
	code, body, err := get(t, n, "/healthz")
	if err != nil || code != http.StatusOK || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, %v, want 200 %q", code, body, err, "ok\n")
	}
	waitReady(t, n)
	if !n.Ready() {
		t.Errorf("Ready() = false after /readyz answered 200, want true")
	}
	if code, _, err := get(t, n, "/debug/pprof/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without Pprof = %d, %v, want 404", code, err)
	}
	if _, body, err := get(t, n, "/metrics"); err != nil || !strings.Contains(body, "roost_build_info{") {
		t.Errorf("GET /metrics has no roost_build_info (%v)", err)
	}
	if code, _, err := get(t, n, "/nothing"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /nothing = %d, %v, want 404", code, err)
	}

	health := healthpb.NewHealthClient(dial(t, n))
	waitFor(t, "the health service to report SERVING", func() bool {
		resp, err := health.Check(testContext(t), &healthpb.HealthCheckRequest{})
		return err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING
	})
	// The node registers its gRPC address so that others can forward to it.
	waitFor(t, "the node to register its gRPC address", func() bool {
		addr, ok := n.Store().FSM().Member("n1")
		return ok && addr == n.GRPCAddr()
	})
}

func TestNodeMetrics(t *testing.T) {
	n := startNode(t, t.TempDir(), true)
	waitReady(t, n)
	w := activate(t, n, "user.jane")
	mb := roostv1.NewMailboxServiceClient(dial(t, n))
	if _, err := mb.GetMailbox(testContext(t), &roostv1.GetMailboxRequest{Name: []byte("user.jane")}); err != nil {
		t.Fatalf("GetMailbox(user.jane) = %v, want nil error", err)
	}

	// Raft publishes its applied index just after handing entries to the
	// FSM, so it may trail the write for a moment.
	var metrics string
	waitFor(t, "roost_raft_applied_index to reach the write", func() bool {
		code, body, err := get(t, n, "/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /metrics = %d, %v, want 200", code, err)
		}
		metrics = body
		v, ok := metricValue(metrics, "roost_raft_applied_index")
		return ok && v >= float64(w.Revision)
	})
	tests := []struct {
		series string
		ok     func(float64) bool
		want   string
	}{
		{"roost_raft_leader", func(v float64) bool { return v == 1 }, "1"},
		{`roost_raft_state{state="Leader"}`, func(v float64) bool { return v == 1 }, "1"},
		{`roost_raft_members{suffrage="voter"}`, func(v float64) bool { return v == 1 }, "1"},
		{"roost_mailboxes", func(v float64) bool { return v == 1 }, "1"},
		{"roost_revision", func(v float64) bool { return v >= float64(w.Revision) }, ">= the write's revision"},
		{`roost_apply_duration_seconds_count{result="ok"}`, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"roost_log_entry_operations_count", func(v float64) bool { return v >= 1 }, ">= 1"},
		{`grpc_server_handled_total{grpc_code="OK",grpc_method="GetMailbox",grpc_service="roost.v1.MailboxService",grpc_type="unary"}`,
			func(v float64) bool { return v == 1 }, "1"},
		{`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetMailbox",grpc_service="roost.v1.MailboxService",grpc_type="unary"}`,
			func(v float64) bool { return v == 0 }, "0"},
	}
	for _, tt := range tests {
		if v, ok := metricValue(metrics, tt.series); !ok || !tt.ok(v) {
			t.Errorf("/metrics %s = %v (present %v), want %s", tt.series, v, ok, tt.want)
		}
	}
	for _, family := range []string{"# TYPE roost_apply_duration_seconds histogram", "# TYPE grpc_server_handled_total counter", "go_goroutines "} {
		if !strings.Contains(metrics, family) {
			t.Errorf("/metrics lacks %q", family)
		}
	}
}

func TestNodeReflection(t *testing.T) {
	n := startNode(t, t.TempDir(), true)
	stream, err := reflectionpb.NewServerReflectionClient(dial(t, n)).ServerReflectionInfo(testContext(t))
	if err != nil {
		t.Fatalf("ServerReflectionInfo() = %v, want nil error", err)
	}
	req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}
	if err := stream.Send(req); err != nil {
		t.Fatalf("ServerReflectionInfo Send(list services) = %v, want nil error", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("ServerReflectionInfo Recv() = %v, want a response", err)
	}
	var got []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		got = append(got, s.Name)
	}
	for _, want := range []string{"roost.v1.MailboxService", "roost.v1.ClusterService", "grpc.health.v1.Health"} {
		if !slices.Contains(got, want) {
			t.Errorf("reflection ListServices = %q, want it to hold %q", got, want)
		}
	}
	stream.CloseSend()
}

func TestNodeClose(t *testing.T) {
	n := startNode(t, t.TempDir(), true)
	waitReady(t, n)
	stream, err := roostv1.NewMailboxServiceClient(dial(t, n)).Watch(testContext(t), &roostv1.WatchRequest{IncludeListing: true})
	if err != nil {
		t.Fatalf("Watch() = %v, want nil error", err)
	}
	if msg, err := stream.Recv(); err != nil || !msg.ListingComplete {
		t.Fatalf("Watch Recv() = %v, %v, want a complete listing", msg, err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("Close() with an open Watch stream still running after %v", waitTimeout)
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close() again = %v, want nil", err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Errorf("Watch Recv() after Close() = nil error, want the stream ended")
	}
	if _, _, err := get(t, n, "/healthz"); err == nil {
		t.Errorf("GET /healthz after Close() = nil error, want the server gone")
	}
}

func TestNodeRestartResumes(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, true)
	if n.Store().HadState() {
		t.Errorf("Store().HadState() on a new directory = true, want false")
	}
	waitReady(t, n)
	w := activate(t, n, "user.jane")
	if err := n.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	n = startNode(t, dir, false)
	if !n.Store().HadState() {
		t.Errorf("Store().HadState() after restart = false, want true")
	}
	waitReady(t, n)
	waitFor(t, "user.jane to be back", func() bool {
		m, _ := n.Store().FSM().Get("user.jane")
		return m != nil
	})
	if m, _ := n.Store().FSM().Get("user.jane"); m.ACL != testACL || m.ModifyRevision != w.Revision {
		t.Errorf("Get(user.jane) after restart = %+v, want ACL %q at revision %d", m, testACL, w.Revision)
	}
	// The restarted node leads again and takes writes.
	if w2 := activate(t, n, "user.bob"); w2.Revision <= w.Revision {
		t.Errorf("Apply() after restart at revision %d, want after %d", w2.Revision, w.Revision)
	}
	waitFor(t, "the node to register its new gRPC address", func() bool {
		addr, ok := n.Store().FSM().Member("n1")
		return ok && addr == n.GRPCAddr()
	})
}

func TestPprofWhenAsked(t *testing.T) {
	n, err := Start(Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", Bootstrap: true, Pprof: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if code, _, err := get(t, n, "/debug/pprof/"); err != nil || code != http.StatusOK {
		t.Errorf("GET /debug/pprof/ with Pprof = %d, %v, want 200", code, err)
	}
}

// TestMetricsDocumented checks that docs/metrics.md lists every roost_
// metric a node exposes.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Config{NodeID: "n1", DataDir: t.TempDir(), RaftAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0", MupdateAddr: "127.0.0.1:0", Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	waitReady(t, n)
	_, body, err := get(t, n, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for line := range strings.Lines(body) {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		if !strings.HasPrefix(name, "roost_") || seen[name] {
			continue
		}
		seen[name] = true
		if !strings.Contains(string(doc), "`"+name) {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
	if !seen["roost_mupdate_update_streams"] || len(seen) < 15 {
		t.Errorf("only %d roost_ metrics exposed: %v", len(seen), seen)
	}
}
