package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type result struct {
	rate     float64
	p50, p99 time.Duration
}

func summarize(lat []time.Duration, ops int, elapsed time.Duration) result {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Microsecond)
	}
	return result{rate: float64(ops) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}
}

// dialPool opens one connection per perConn clients, to addrs in turn,
// and at least one to each address while there are clients for it.
func dialPool(addrs []string, clients, perConn int) ([]*grpc.ClientConn, error) {
	var conns []*grpc.ClientConn
	for k := range max((clients+perConn-1)/perConn, min(clients, len(addrs))) {
		c, err := grpc.NewClient(addrs[k%len(addrs)], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// writeLoad runs clients that each send one ACTIVATE at a time for d, and
// measures acknowledged writes.
func writeLoad(ctx context.Context, addrs []string, clients, perConn int, d time.Duration, tag string) (result, error) {
	return runClients(ctx, addrs, clients, perConn, d, func(mc roostv1.MailboxServiceClient, i, j int) (int, error) {
		_, err := mc.Activate(ctx, &roostv1.ActivateRequest{
			Name:     fmt.Appendf(nil, "user.%s.u%d.f%d", tag, i, j),
			Location: []byte("be1!default"),
			Acl:      []byte("anyone\tlrs\t"),
		})
		return 1, err
	})
}

// streamLoad runs clients that each open a Write stream and send one
// ACTIVATE at a time on it, waiting for each answer.
func streamLoad(ctx context.Context, addrs []string, clients, perConn int, d time.Duration, tag string) (result, error) {
	conns, err := dialPool(addrs, clients, perConn)
	if err != nil {
		return result{}, err
	}
	defer closeAll(conns)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streams := make([]grpc.BidiStreamingClient[roostv1.WriteRequest, roostv1.WriteResponse], clients)
	for i := range streams {
		if streams[i], err = roostv1.NewMailboxServiceClient(conns[i%len(conns)]).Write(ctx); err != nil {
			return result{}, err
		}
	}
	return loop(clients, d, func(i, j int) (int, error) {
		req := &roostv1.WriteRequest{Id: uint64(j), OmitMailbox: true, Operation: &roostv1.Operation{
			Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{
				Name:     fmt.Appendf(nil, "user.%s.u%d.f%d", tag, i, j),
				Location: []byte("be1!default"),
				Acl:      []byte("anyone\tlrs\t"),
			}}}}
		if err := streams[i].Send(req); err != nil {
			return 0, err
		}
		resp, err := streams[i].Recv()
		switch {
		case err != nil:
			return 0, err
		case resp.Error != nil:
			return 0, fmt.Errorf("write %d: %s", resp.Id, resp.Error.Message)
		case resp.Id != req.Id || resp.Result.GetStatus() != roostv1.OperationStatus_OPERATION_STATUS_OK:
			return 0, fmt.Errorf("write %d: answer %d, %v", req.Id, resp.Id, resp.Result)
		}
		return 1, nil
	})
}

func closeAll(conns []*grpc.ClientConn) {
	for _, c := range conns {
		c.Close()
	}
}

// prefill loads n mailboxes in Batch RPCs of 1000 from 8 clients.
func prefill(ctx context.Context, addr string, n int) error {
	const size, clients = 1000, 8
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	mc := roostv1.NewMailboxServiceClient(conn)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			errs[c] = func() error {
				for start := c * size; start < n; start += clients * size {
					req := &roostv1.BatchRequest{OmitMailboxes: true}
					for i := start; i < min(start+size, n); i++ {
						req.Operations = append(req.Operations, &roostv1.Operation{Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{
							Name:     fmt.Appendf(nil, "user.pre%07d", i),
							Location: fmt.Appendf(nil, "be%02d!default", i%20),
							Acl:      fmt.Appendf(nil, "pre%07d\tlrswipkxtecdan\t", i),
						}}})
					}
					if _, err := mc.Batch(ctx, req); err != nil {
						return err
					}
				}
				return nil
			}()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// batchLoad sends Batch RPCs of size operations from clients at once, each
// on its own connection.
func batchLoad(ctx context.Context, addr string, clients, size int, d time.Duration) (result, error) {
	return runClients(ctx, []string{addr}, clients, 1, d, func(mc roostv1.MailboxServiceClient, i, j int) (int, error) {
		req := &roostv1.BatchRequest{Operations: make([]*roostv1.Operation, size), OmitMailboxes: true}
		for k := range req.Operations {
			req.Operations[k] = &roostv1.Operation{Op: &roostv1.Operation_Activate{Activate: &roostv1.ActivateRequest{
				Name:     fmt.Appendf(nil, "user.batch%d.r%d.f%d", i, j, k),
				Location: []byte("be2!default"),
				Acl:      []byte("anyone\tlrs\t"),
			}}}
		}
		_, err := mc.Batch(ctx, req)
		return size, err
	})
}

// runClients runs clients calling call in a loop for d, sharing gRPC
// connections perConn at a time; call returns the operations it carried.
// Latencies are per call.
func runClients(ctx context.Context, addrs []string, clients, perConn int, d time.Duration,
	call func(mc roostv1.MailboxServiceClient, client, seq int) (int, error)) (result, error) {
	conns, err := dialPool(addrs, clients, perConn)
	if err != nil {
		return result{}, err
	}
	defer closeAll(conns)
	mcs := make([]roostv1.MailboxServiceClient, len(conns))
	for i, c := range conns {
		mcs[i] = roostv1.NewMailboxServiceClient(c)
	}
	return loop(clients, d, func(i, j int) (int, error) { return call(mcs[i%len(mcs)], i, j) })
}

// storeLoad runs clients that each apply one ACTIVATE at a time straight
// to the leader's store, in process: the Raft pipeline's capacity without
// gRPC, to set the gRPC rows against.
func storeLoad(ctx context.Context, store *raftfsm.Store, clients int, d time.Duration, tag string) (result, error) {
	return loop(clients, d, func(i, j int) (int, error) {
		_, err := store.Apply(ctx, []raftfsm.Op{{Kind: raftfsm.OpActivate,
			Name: fmt.Sprintf("user.%s.u%d.f%d", tag, i, j), Location: "be1!default", ACL: "anyone\tlrs\t"}}, false)
		return 1, err
	})
}

// loop runs clients calling call in a loop for d.
func loop(clients int, d time.Duration, call func(client, seq int) (int, error)) (result, error) {
	var mu sync.Mutex
	var all []time.Duration
	var ops int
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for i := range clients {
		wg.Go(func() {
			var lat []time.Duration
			n := 0
			for j := 0; time.Now().Before(end); j++ {
				t0 := time.Now()
				k, err := call(i, j)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
				n += k
			}
			mu.Lock()
			all, ops = append(all, lat...), ops+n
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	return summarize(all, ops, time.Since(start)), nil
}
