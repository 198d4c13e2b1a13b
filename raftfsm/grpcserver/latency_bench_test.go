package grpcserver

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchmarkOneWriter takes apart the latency of one write at a time on a
// single-node cluster (one fsync per write): straight into the store,
// through the gRPC method called in process, and through gRPC on
// loopback, unary and on a Write stream; and, for scale, gRPC calls to a
// server that answers at once. It reports the median in µs:
//
//	go test -run XXX -bench OneWriter -benchtime 2000x ./raftfsm/grpcserver/
func BenchmarkOneWriter(b *testing.B) {
	n := startTestNode(b)
	echo := echoConn(b)
	op := func(i int) *roostv1.ActivateRequest {
		return &roostv1.ActivateRequest{Name: fmt.Appendf(nil, "user.w%d", i), Location: []byte("be1!default")}
	}
	for _, bm := range []struct {
		name  string
		write func(ctx context.Context, i int) error
	}{
		{"store", func(ctx context.Context, i int) error {
			_, err := n.store.Apply(ctx, []raftfsm.Op{{Kind: raftfsm.OpActivate, Name: fmt.Sprintf("user.s%d", i), Location: "be1!default"}}, false)
			return err
		}},
		{"method in process", func(ctx context.Context, i int) error {
			_, err := n.srv.Activate(ctx, op(i+1e8))
			return err
		}},
		{"unary", func(ctx context.Context, i int) error {
			_, err := n.mb.Activate(ctx, op(i+2e8))
			return err
		}},
		{"stream", streamWriter(b, n.mb, func(i int) *roostv1.ActivateRequest { return op(i + 3e8) })},
		{"echo unary", func(ctx context.Context, i int) error {
			_, err := echo.Activate(ctx, op(i))
			return err
		}},
		{"echo stream", streamWriter(b, echo, op)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var d []time.Duration
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				if err := bm.write(b.Context(), i); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(t0))
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
		})
	}
}

// echoConn returns a client of an echo server (one connection).
func echoConn(b *testing.B) roostv1.MailboxServiceClient {
	lis := startEcho(b)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return roostv1.NewMailboxServiceClient(conn)
}

// streamWriter returns a write function that sends each request on one
// Write stream and waits for its answer.
func streamWriter(b *testing.B, c roostv1.MailboxServiceClient, req func(int) *roostv1.ActivateRequest) func(context.Context, int) error {
	stream, err := c.Write(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return func(_ context.Context, i int) error {
		op := &roostv1.Operation{Op: &roostv1.Operation_Activate{Activate: req(i)}}
		if err := stream.Send(&roostv1.WriteRequest{Id: uint64(i), Operation: op}); err != nil {
			return err
		}
		_, err := stream.Recv()
		return err
	}
}
