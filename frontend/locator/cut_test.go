package locator_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/roost-mail/roost/raftfsm"
)

// cutter is a TCP proxy in front of a node that breaks connections the
// way a network does: the first one after a number of octets from the
// node, or every open one on demand.
type cutter struct {
	l        net.Listener
	target   string
	cutAfter atomic.Int64 // octets from the node before the first cut; 0: none
	cuts     atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]net.Conn
}

func startCutter(t *testing.T, target string) *cutter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{l: l, target: target, conns: map[net.Conn]net.Conn{}}
	t.Cleanup(func() { l.Close(); c.cutAll() })
	go c.serve()
	return c
}

func (c *cutter) addr() string { return c.l.Addr().String() }

func (c *cutter) serve() {
	for {
		client, err := c.l.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", c.target)
		if err != nil {
			client.Close()
			continue
		}
		c.mu.Lock()
		c.conns[client] = server
		c.mu.Unlock()
		go func() { io.Copy(server, client); c.cut(client) }()
		go func() {
			buf := make([]byte, 4096)
			var sent int64
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if limit := c.cutAfter.Load(); limit > 0 && sent+int64(n) >= limit && c.cutAfter.CompareAndSwap(limit, 0) {
						c.cuts.Add(1)
						client.Write(buf[:limit-sent])
						break
					}
					if _, err := client.Write(buf[:n]); err != nil {
						break
					}
					sent += int64(n)
				}
				if err != nil {
					break
				}
			}
			c.cut(client)
		}()
	}
}

func (c *cutter) cut(client net.Conn) {
	c.mu.Lock()
	server, ok := c.conns[client]
	delete(c.conns, client)
	c.mu.Unlock()
	if ok {
		client.Close()
		server.Close()
	}
}

// cutAll breaks every open connection at once.
func (c *cutter) cutAll() {
	c.mu.Lock()
	var open []net.Conn
	for client := range c.conns {
		open = append(open, client)
	}
	c.mu.Unlock()
	for _, client := range open {
		c.cut(client)
		c.cuts.Add(1)
	}
}

// TestCutStream: the watch stream breaks in the middle of the first
// listing and again while changes flow. The cache starts the listing over
// (it is not ready with half a database), then resumes after the last
// revision it applied, without listing again, and ends identical to the
// cluster; a cache restarted after more changes resumes too.
func TestCutStream(t *testing.T) {
	n := startNode(t, 0)
	acl := "owner\tlrswipkxtecdan\tanyone\tlr\t"
	var batch []raftfsm.Op
	for i := range 3000 {
		batch = append(batch, raftfsm.Op{Kind: raftfsm.OpActivate, Name: fmt.Sprintf("user.u%04d", i),
			Location: "backend1!default", ACL: acl})
		if len(batch) == 500 {
			if _, err := n.Store().Apply(t.Context(), batch, false); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	proxy := startCutter(t, n.GRPCAddr())
	proxy.cutAfter.Store(64 << 10) // the listing is about 180 KB
	dir := t.TempDir()
	r := runCache(t, dir, proxy.addr())
	waitFor(t, "the first sync", r.c.Ready)
	if proxy.cuts.Load() != 1 {
		t.Fatalf("the listing was cut %d times, want once", proxy.cuts.Load())
	}
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	listings := r.counter(t, "roost_frontend_cache_listings_total")

	// Changes flow; every connection breaks half-way through them.
	for i := range 200 {
		if i == 100 {
			proxy.cutAll()
		}
		write(t, n, activate(fmt.Sprintf("user.live%03d", i), "backend2!default", acl))
	}
	rev := n.Store().FSM().Revision()
	if err := r.c.WaitFor(t.Context(), func() bool { return r.c.Revision() >= rev }); err != nil {
		t.Fatal(err)
	}
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	if got := r.counter(t, "roost_frontend_cache_listings_total"); got != listings {
		t.Errorf("after a cut while following: %v listings, want %v (it resumes after its revision)", got, listings)
	}
	if got := r.counter(t, "roost_frontend_cache_watch_interruptions_total"); got < 1 {
		t.Errorf("watch interruptions = %v, want at least the cut", got)
	}

	// Stopped and started again after more changes: it resumes.
	r.stop(t)
	for i := range 10 {
		write(t, n, activate(fmt.Sprintf("user.late%d", i), "backend2!default", acl))
	}
	r = runCache(t, dir, proxy.addr())
	rev = n.Store().FSM().Revision()
	if err := r.c.WaitFor(t.Context(), func() bool { return r.c.Revision() >= rev }); err != nil {
		t.Fatal(err)
	}
	if err := same(r.c, n); err != nil {
		t.Fatal(err)
	}
	if got := r.counter(t, "roost_frontend_cache_listings_total"); got != 0 {
		t.Errorf("a restart listed %v times, want 0", got)
	}
	if r.c.Len() != 3210 {
		t.Errorf("%d mailboxes, want 3210", r.c.Len())
	}
}
