package tests

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/roost-mail/roost/mupdatecompat"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/tests/internal/floor"
)

// BenchmarkMupdateVsCyrus measures RESERVE+ACTIVATE pairs per second
// through MUPDATE, against Cyrus's own mupdate master and against a
// follower of a three-node Roost cluster for each Raft log store
// (replicated, fsync'd), in the same run, with the same Go load
// generator:
//
//	go test -run XXX -bench MupdateVsCyrus -benchtime 1x ./tests/
func BenchmarkMupdateVsCyrus(b *testing.B) {
	needCyrus(b)
	master := startCyrus(b, "mupdate-master", "master", "")
	targets := []struct{ name, store, addr string }{{name: "Cyrus", addr: master.imapAddr}}
	for _, store := range raftStores {
		nodes := startThreeWith(b, "b"+store, func(tn *testNode) {
			tn.production, tn.store = true, raftfsm.RaftStore(store)
		})
		targets = append(targets, struct{ name, store, addr string }{"Roost " + store, store, followersOf(nodes)[0].mupdateAddr})
	}
	scenarios := []struct {
		name      string
		conns     int
		reconnect bool
	}{
		{"1 connection", 1, false},
		{"32 connections", 32, false},
		{"new connection per pair", 1, true},
	}
	const d = 5 * time.Second
	// A pair is two writes one after the other: Roost's each at least
	// its store's fsyncs in a row and a round trip, Cyrus's three fsyncs.
	floors := map[string]time.Duration{}
	for _, tg := range targets[1:] {
		fl, err := floor.Measure(b.TempDir(), tg.store)
		if err != nil {
			b.Fatal(err)
		}
		floors[tg.store] = 2 * fl.Total()
		cyrusFloor := 6 * fl.Fsync
		b.Logf("floor, %s: fsync p50 %v, RTT p50 %v; a pair at least %v in Roost (%.0f pairs/s), %v in Cyrus (%.0f pairs/s): one connection can reach at most %.2fx",
			tg.store, fl.Fsync, fl.RTT, floors[tg.store], float64(time.Second)/float64(floors[tg.store]), cyrusFloor,
			float64(time.Second)/float64(cyrusFloor), float64(cyrusFloor)/float64(floors[tg.store]))
	}
	for iter := range b.N {
		for _, sc := range scenarios {
			rates := make([]float64, len(targets))
			for i, tg := range targets {
				r, err := pairLoad(tg.addr, fmt.Sprintf("%s%d.%d.%d", tg.store, len(sc.name)+sc.conns, i, iter), sc.conns, sc.reconnect, d)
				if err != nil {
					b.Fatalf("%s, %s: %v", tg.name, sc.name, err)
				}
				rates[i] = r
			}
			line := fmt.Sprintf("%-24s Cyrus %7.0f pairs/s", sc.name, rates[0])
			for i, tg := range targets[1:] {
				line += fmt.Sprintf("   %s %7.0f pairs/s %.2fx", tg.name, rates[i+1], rates[i+1]/rates[0])
				if sc.conns == 1 {
					// One pair at a time: Roost cannot beat its floor,
					// whatever a connection costs.
					line += fmt.Sprintf(" (floor: at most %.2fx)", float64(time.Second)/float64(floors[tg.store])/rates[0])
				}
			}
			b.Log(line)
		}
	}
}

// pairLoad runs conns clients doing RESERVE then ACTIVATE of fresh names
// for d, each pair on its own new connection if reconnect.
func pairLoad(addr, prefix string, conns int, reconnect bool, d time.Duration) (float64, error) {
	ctx := context.Background()
	dial := func() (*mupdatecompat.Client, error) {
		c, err := mupdatecompat.Dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		if err := c.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	var mu sync.Mutex
	var pairs int
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(d)
	for w := range conns {
		wg.Go(func() {
			var c *mupdatecompat.Client
			n := 0
			defer func() {
				if c != nil {
					c.Close()
				}
				mu.Lock()
				pairs += n
				mu.Unlock()
			}()
			for ; time.Now().Before(end); n++ {
				if c == nil {
					var err error
					if c, err = dial(); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
				name := fmt.Sprintf("user.%s.w%d.m%d", prefix, w, n)
				err := c.Reserve(name, "be1!default")
				if err == nil {
					err = c.Activate(name, "be1!default", "anyone\tlrs\t")
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				if reconnect {
					c.Close()
					c = nil
				}
			}
		})
	}
	wg.Wait()
	return float64(pairs) / time.Since(start).Seconds(), firstErr
}

// BenchmarkMupdateStreamLatency measures the time from a backend's
// ACTIVATE on one node to its arrival on an UPDATE stream of another
// (Cyrus's master batches streams every 5 s):
//
//	go test -run XXX -bench MupdateStreamLatency -benchtime 1x -v ./tests/
func BenchmarkMupdateStreamLatency(b *testing.B) {
	fs := followersOf(startThree(b, "s", true))
	ctx := context.Background()
	dial := func(tn *testNode) *mupdatecompat.Client {
		c, err := mupdatecompat.Dial(ctx, tn.mupdateAddr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	writer, reader := dial(fs[0]), dial(fs[1])
	if err := reader.Dump(func(raftfsm.Mailbox) error { return nil }); err != nil {
		b.Fatal(err)
	}
	for iter := range b.N {
		var lat []time.Duration
		for i := range 300 {
			name := fmt.Sprintf("user.lat%d.%d", iter, i)
			t0 := time.Now()
			if err := writer.Activate(name, "be1!default", ""); err != nil {
				b.Fatal(err)
			}
			for {
				m, _, err := reader.Next()
				if err != nil {
					b.Fatal(err)
				}
				if m.Name == name {
					break
				}
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.Logf("ACTIVATE on a follower to an UPDATE stream on another node (incl. the ACTIVATE's own commit): p50 %v, p99 %v",
			lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
	}
}

// BenchmarkMupdateDump times a full UPDATE dump of the same 100,000
// mailboxes from Cyrus's own master and from a Roost node, in one run
// (loading Cyrus's master takes a minute or two):
//
//	go test -run XXX -bench MupdateDump -benchtime 1x -timeout 30m -v ./tests/
func BenchmarkMupdateDump(b *testing.B) {
	needCyrus(b)
	const entries = 100_000
	master := startCyrus(b, "mupdate-master", "master", "")
	n := &testNode{id: "d1", production: true}
	startNode(b, n, nil, false)
	waitFor(b, "a leader", 20*time.Second, func() error {
		if !n.n.Store().IsLeader() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	name := func(i int) (string, string, string) {
		return fmt.Sprintf("user.u%06d", i), fmt.Sprintf("be%d!default", i%20), fmt.Sprintf("u%06d\tlrswipkxtecdan\t", i)
	}
	// Roost: batches through the store.
	for lo := 0; lo < entries; lo += 1000 {
		var ops []raftfsm.Op
		for i := lo; i < lo+1000; i++ {
			nm, loc, acl := name(i)
			ops = append(ops, raftfsm.Op{Kind: raftfsm.OpActivate, Name: nm, Location: loc, ACL: acl})
		}
		if _, err := n.n.Store().Apply(context.Background(), ops, false); err != nil {
			b.Fatal(err)
		}
	}
	// Cyrus: ACTIVATEs over 32 connections.
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Go(func() {
			c, err := mupdatecompat.Dial(context.Background(), master.imapAddr)
			if err == nil {
				err = c.Authenticate(cyrusAdmin, cyrusPassword)
			}
			for i := w; err == nil && i < entries; i += 32 {
				nm, loc, acl := name(i)
				err = c.Activate(nm, loc, acl)
			}
			if c != nil {
				c.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	dump := func(addr string) (time.Duration, int) {
		c, err := mupdatecompat.Dial(context.Background(), addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
			b.Fatal(err)
		}
		count := 0
		t0 := time.Now()
		if err := c.Dump(func(raftfsm.Mailbox) error { count++; return nil }); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0), count
	}
	for range b.N {
		cd, cn := dump(master.imapAddr)
		rd, rn := dump(n.mupdateAddr)
		if cn != entries || rn != entries {
			b.Fatalf("dumps of %d (Cyrus) and %d (Roost) entries, want %d", cn, rn, entries)
		}
		b.Logf("UPDATE dump of %d mailboxes: Cyrus %v, Roost %v, Roost %.1fx faster", entries,
			cd.Round(time.Millisecond), rd.Round(time.Millisecond), cd.Seconds()/rd.Seconds())
	}
}

// BenchmarkMupdatePush times `ctl_mboxlist -m` of a real Cyrus backend
// holding 100,000 mailboxes into an empty Cyrus master and into an empty
// three-node Roost cluster for each Raft log store (through a follower),
// in one run:
//
//	go test -run XXX -bench MupdatePush -benchtime 1x -timeout 60m -v ./tests/
func BenchmarkMupdatePush(b *testing.B) {
	needCyrus(b)
	const entries = 100_000
	master := startCyrus(b, "mupdate-master", "master", "")
	toCyrus := startCyrus(b, "be-cyrus", "backend", master.imapAddr)
	toCyrus.undump(b, entries)
	type target struct {
		store    string
		nodes    []*testNode
		follower *testNode
		backend  *cyrus
	}
	var targets []target
	for _, store := range raftStores {
		nodes := startThreeWith(b, "p"+store, func(tn *testNode) {
			tn.production, tn.store = true, raftfsm.RaftStore(store)
		})
		f := followersOf(nodes)[0]
		be := startCyrus(b, "be-roost-"+store, "backend", f.mupdateAddr)
		be.undump(b, entries)
		targets = append(targets, target{store, nodes, f, be})
	}
	for range b.N {
		t0 := time.Now()
		toCyrus.tool(b, "ctl_mboxlist", "-m")
		cd := time.Since(t0)
		line := fmt.Sprintf("ctl_mboxlist -m of %d mailboxes into an empty master: Cyrus %v", entries, cd.Round(time.Millisecond))
		for _, tg := range targets {
			t0 = time.Now()
			tg.backend.tool(b, "ctl_mboxlist", "-m")
			rd := time.Since(t0)
			// The follower answered the last write once the leader had
			// committed it; its own copy may still be applying it.
			catchUp(b, tg.nodes, tg.follower)
			if got := tg.follower.n.Store().FSM().Len(); got < entries {
				b.Fatalf("Roost (%s) holds %d entries after the push, want %d", tg.store, got, entries)
			}
			line += fmt.Sprintf(", Roost %s %v (Roost/Cyrus time %.2f)", tg.store, rd.Round(time.Millisecond), rd.Seconds()/cd.Seconds())
		}
		b.Log(line)
	}
}
