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
	"github.com/roost-mail/roost/raftfsm/client"
	"google.golang.org/grpc"
)

type result struct {
	rate     float64
	p50, p99 time.Duration
	// cpu is the process's CPU time per operation: the three nodes' and
	// the clients' together. It moves far less than the rate with the
	// disk's mood, so it shows what a change to the code costs.
	cpu time.Duration
}

func summarize(lat []time.Duration, ops int, elapsed, cpu time.Duration) result {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Microsecond)
	}
	r := result{rate: float64(ops) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}
	if ops > 0 {
		r.cpu = (cpu / time.Duration(ops)).Round(100 * time.Nanosecond)
	}
	return r
}

// dial returns one MailboxService client per client, sharing connections
// perConn at a time, to addrs in turn and at least one to each address
// while there are clients for it, and a function that closes them.
func dial(opt grpc.DialOption, addrs []string, clients, perConn int) ([]roostv1.MailboxServiceClient, func(), error) {
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for k := range max((clients+perConn-1)/perConn, min(clients, len(addrs))) {
		c, err := grpc.NewClient(addrs[k%len(addrs)], opt)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns = append(conns, c)
	}
	mcs := make([]roostv1.MailboxServiceClient, clients)
	for i := range mcs {
		mcs[i] = roostv1.NewMailboxServiceClient(conns[i%len(conns)])
	}
	return mcs, closeAll, nil
}

// activation is the write every single-write client sends: the j-th
// ACTIVATE of client i.
func activation(tag string, i, j int) *roostv1.Operation {
	return client.Activate(fmt.Appendf(nil, "user.%s.u%d.f%d", tag, i, j), []byte("be1!default"), []byte("anyone\tlrs\t"))
}

// writeLoad runs clients that each send one ACTIVATE at a time for d, and
// measures acknowledged writes.
func writeLoad(ctx context.Context, opt grpc.DialOption, addrs []string, clients, perConn int, d time.Duration, tag string) (result, error) {
	mcs, closeAll, err := dial(opt, addrs, clients, perConn)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	return loop(clients, d, func(i, j int) (int, error) {
		_, err := mcs[i].Activate(ctx, activation(tag, i, j).GetActivate())
		return 1, err
	})
}

// streamLoad runs clients that each open a Write stream and send one
// ACTIVATE at a time on it, waiting for each answer.
func streamLoad(ctx context.Context, opt grpc.DialOption, addrs []string, clients, perConn int, d time.Duration, tag string) (result, error) {
	mcs, closeAll, err := dial(opt, addrs, clients, perConn)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	streams := make([]grpc.BidiStreamingClient[roostv1.WriteRequest, roostv1.WriteResponse], clients)
	for i := range streams {
		if streams[i], err = mcs[i].Write(ctx); err != nil {
			return result{}, err
		}
	}
	return loop(clients, d, func(i, j int) (int, error) {
		req := &roostv1.WriteRequest{Id: uint64(j), OmitMailbox: true, Operation: activation(tag, i, j)}
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

// prefill loads n mailboxes, one user's ACL each over 20 backends, in
// Batch RPCs of 1000 from 8 clients.
func prefill(ctx context.Context, opt grpc.DialOption, addr string, n int) error {
	const size, clients = 1000, 8
	mcs, closeAll, err := dial(opt, []string{addr}, clients, clients)
	if err != nil {
		return err
	}
	defer closeAll()
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c, mc := range mcs {
		wg.Go(func() {
			for start := c * size; start < n && errs[c] == nil; start += clients * size {
				req := &roostv1.BatchRequest{OmitMailboxes: true}
				for i := start; i < min(start+size, n); i++ {
					req.Operations = append(req.Operations, client.Activate(fmt.Appendf(nil, "user.pre%07d", i),
						fmt.Appendf(nil, "be%02d!default", i%20), fmt.Appendf(nil, "pre%07d\tlrswipkxtecdan\t", i)))
				}
				_, errs[c] = mc.Batch(ctx, req)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// batchLoad sends Batch RPCs of size operations from clients at once, each
// on its own connection.
func batchLoad(ctx context.Context, opt grpc.DialOption, addr string, clients, size int, d time.Duration) (result, error) {
	mcs, closeAll, err := dial(opt, []string{addr}, clients, 1)
	if err != nil {
		return result{}, err
	}
	defer closeAll()
	return loop(clients, d, func(i, j int) (int, error) {
		req := &roostv1.BatchRequest{Operations: make([]*roostv1.Operation, size), OmitMailboxes: true}
		for k := range req.Operations {
			req.Operations[k] = client.Activate(fmt.Appendf(nil, "user.batch%d.r%d.f%d", i, j, k), []byte("be2!default"), []byte("anyone\tlrs\t"))
		}
		resp, err := mcs[i].Batch(ctx, req)
		if err != nil {
			return 0, err
		}
		for k, r := range resp.Results {
			if r.Status != roostv1.OperationStatus_OPERATION_STATUS_OK {
				return 0, fmt.Errorf("batch operation %d: %v %s", k, r.Status, r.Message)
			}
		}
		return len(resp.Results), nil
	})
}

// storeLoad runs clients that each apply one ACTIVATE at a time straight
// to the leader's store, in process: the Raft pipeline's capacity without
// gRPC, to set the gRPC rows against.
func storeLoad(ctx context.Context, store *raftfsm.Store, clients int, d time.Duration, tag string) (result, error) {
	return loop(clients, d, func(i, j int) (int, error) {
		a := activation(tag, i, j).GetActivate()
		resp, err := store.Apply(ctx, []raftfsm.Op{{Kind: raftfsm.OpActivate, Name: string(a.Name), Location: string(a.Location), ACL: string(a.Acl)}}, false)
		if err != nil {
			return 0, err
		}
		if err := resp.Results[0].Err; err != nil {
			return 0, err
		}
		return 1, nil
	})
}

// loop runs clients calling call in a loop for d.
func loop(clients int, d time.Duration, call func(client, seq int) (int, error)) (result, error) {
	var mu sync.Mutex
	var all []time.Duration
	var ops int
	var firstErr error
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), processCPU()
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
	return summarize(all, ops, time.Since(start), processCPU()-cpu0), nil
}
