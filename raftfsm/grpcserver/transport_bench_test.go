package grpcserver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// echoServer answers at once, so the benchmarks below measure what gRPC
// itself costs a write, client and server together, with Roost's messages.
type echoServer struct {
	roostv1.UnimplementedMailboxServiceServer
}

func (echoServer) Activate(context.Context, *roostv1.ActivateRequest) (*roostv1.ActivateResponse, error) {
	return &roostv1.ActivateResponse{Revision: 1}, nil
}

func (echoServer) Write(stream grpc.BidiStreamingServer[roostv1.WriteRequest, roostv1.WriteResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		if err := stream.Send(&roostv1.WriteResponse{Id: req.Id, Revision: 1,
			Result: &roostv1.OperationResult{Status: roostv1.OperationStatus_OPERATION_STATUS_OK}}); err != nil {
			return err
		}
	}
}

const (
	benchClients = 256
	benchPerConn = 32
)

// startEcho serves an echoServer on loopback until the benchmark ends.
func startEcho(b *testing.B, opts ...grpc.ServerOption) net.Listener {
	g := grpc.NewServer(opts...)
	roostv1.RegisterMailboxServiceServer(g, echoServer{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go g.Serve(lis)
	b.Cleanup(g.Stop)
	return lis
}

// echoClients starts an echo server and returns one client per
// benchClients, sharing connections benchPerConn at a time.
func echoClients(b *testing.B) []roostv1.MailboxServiceClient {
	lis := startEcho(b, grpc.NumStreamWorkers(benchClients))
	clients := make([]roostv1.MailboxServiceClient, benchClients)
	for i := range clients {
		if i%benchPerConn == 0 {
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.Close() })
			clients[i] = roostv1.NewMailboxServiceClient(conn)
		} else {
			clients[i] = clients[i-i%benchPerConn]
		}
	}
	return clients
}

// runClients spreads b.N writes over benchClients goroutines.
func runClients(b *testing.B, write func(client, seq int) error) {
	var wg sync.WaitGroup
	per := (b.N + benchClients - 1) / benchClients
	b.ResetTimer()
	for c := range benchClients {
		wg.Go(func() {
			for j := range per {
				if err := write(c, j); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*benchClients)/b.Elapsed().Seconds(), "writes/s")
}

func activation(c, j int) *roostv1.Operation {
	return OpToProto(raftfsm.Op{Kind: raftfsm.OpActivate, Name: fmt.Sprintf("user.u%d.f%d", c, j),
		Location: "be1!default", ACL: "anyone\tlrs\t"})
}

// BenchmarkTransportUnary: 256 clients, each one unary Activate at a time.
func BenchmarkTransportUnary(b *testing.B) {
	clients := echoClients(b)
	ctx := b.Context()
	runClients(b, func(c, j int) error {
		_, err := clients[c].Activate(ctx, activation(c, j).GetActivate())
		return err
	})
}

// BenchmarkTransportStream: 256 clients, each one Activate at a time on a
// Write stream of its own.
func BenchmarkTransportStream(b *testing.B) {
	clients := echoClients(b)
	streams := make([]grpc.BidiStreamingClient[roostv1.WriteRequest, roostv1.WriteResponse], benchClients)
	for c := range streams {
		var err error
		if streams[c], err = clients[c].Write(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	runClients(b, func(c, j int) error {
		if err := streams[c].Send(&roostv1.WriteRequest{Id: uint64(j), Operation: activation(c, j)}); err != nil {
			return err
		}
		_, err := streams[c].Recv()
		return err
	})
}
