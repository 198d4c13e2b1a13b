package node

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
	"google.golang.org/grpc"
)

// Member health, as the leader judges it by asking every member for its
// status every healthInterval.
const (
	healthInterval   = time.Second
	healthyWithin    = 3 * time.Second // answered, and heard from the leader, this recently
	healthyMaxBehind = 1000            // entries
)

// memberWatch is what the leader has learnt of each member. Safe for
// concurrent use.
type memberWatch struct {
	mu      sync.Mutex
	members map[string]*memberHealth // by ID; protected by mu
	conns   map[string]*grpc.ClientConn
}

type memberHealth struct {
	answered    time.Time // zero: never
	applied     uint64
	behind      uint64
	lastContact time.Duration
}

func newMemberWatch() *memberWatch {
	return &memberWatch{members: map[string]*memberHealth{}, conns: map[string]*grpc.ClientConn{}}
}

// watchHealth asks every member for its status every healthInterval while
// this node leads.
func (n *Node) watchHealth(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			n.watch.close()
			return
		}
		if !n.store.IsLeader() {
			n.watch.reset()
			continue
		}
		servers, err := n.store.Servers()
		if err != nil {
			continue
		}
		var wg sync.WaitGroup
		ids := map[string]bool{}
		for _, s := range servers {
			ids[s.ID] = true
			if s.ID == n.cfg.NodeID || s.GRPCAddr == "" {
				continue
			}
			wg.Go(func() { n.askHealth(ctx, s.ID, s.GRPCAddr) })
		}
		wg.Wait()
		n.watch.forget(ids)
	}
}

func (n *Node) askHealth(ctx context.Context, id, addr string) {
	conn, err := n.watch.conn(addr, n.dialOptions())
	if err != nil {
		return
	}
	leaderApplied := n.store.FSM().AppliedIndex()
	ctx, cancel := context.WithTimeout(ctx, healthInterval)
	defer cancel()
	st, err := statusOf(ctx, conn)
	if err != nil {
		return
	}
	n.watch.mu.Lock()
	defer n.watch.mu.Unlock()
	m := n.watch.members[id]
	if m == nil {
		m = &memberHealth{}
		n.watch.members[id] = m
	}
	m.answered, m.applied, m.lastContact = time.Now(), st.AppliedIndex, st.LastContact.AsDuration()
	m.behind = 0
	if leaderApplied > st.AppliedIndex {
		m.behind = leaderApplied - st.AppliedIndex
	}
}

func (h *memberWatch) conn(addr string, opts []grpc.DialOption) (*grpc.ClientConn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c, ok := h.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	h.conns[addr] = c
	return c, nil
}

// forget drops members no longer in the configuration.
func (h *memberWatch) forget(ids map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.members {
		if !ids[id] {
			delete(h.members, id)
		}
	}
}

// reset forgets everything: what a follower learnt when it led is stale.
func (h *memberWatch) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.members)
}

func (h *memberWatch) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for addr, c := range h.conns {
		c.Close()
		delete(h.conns, addr)
	}
}

// memberHealth returns what the leader knows of member id (grpcserver's view).
func (n *Node) memberHealth(id string) (grpcserver.MemberHealth, bool) {
	if !n.store.IsLeader() {
		return grpcserver.MemberHealth{}, false
	}
	if id == n.cfg.NodeID {
		return grpcserver.MemberHealth{Healthy: true, Answered: true}, true
	}
	n.watch.mu.Lock()
	defer n.watch.mu.Unlock()
	m := n.watch.members[id]
	if m == nil {
		return grpcserver.MemberHealth{}, true
	}
	since := time.Since(m.answered)
	return grpcserver.MemberHealth{
		Answered: true, SinceAnswer: since, Behind: m.behind, LastContact: m.lastContact,
		Healthy: since < healthyWithin && m.lastContact < healthyWithin && m.behind <= healthyMaxBehind,
	}, true
}

// healthCollector exports the leader's view of its members.
type healthCollector struct {
	n                       *Node
	healthy, behind, answer *prometheus.Desc
}

func newHealthCollector(n *Node) *healthCollector {
	return &healthCollector{n: n,
		healthy: prometheus.NewDesc("roost_member_healthy", "On the leader: 1 if the member answers, hears from the leader and is at most 1000 entries behind, else 0.", []string{"member"}, nil),
		behind:  prometheus.NewDesc("roost_member_behind_entries", "On the leader: entries the member had not applied at its last answer.", []string{"member"}, nil),
		answer:  prometheus.NewDesc("roost_member_last_answer_seconds", "On the leader: time since the member last answered its status request.", []string{"member"}, nil),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.healthy
	ch <- c.behind
	ch <- c.answer
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	servers, err := c.n.store.Servers()
	if err != nil || !c.n.store.IsLeader() {
		return
	}
	for _, s := range servers {
		h, ok := c.n.memberHealth(s.ID)
		if !ok {
			return
		}
		v := 0.0
		if h.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, v, s.ID)
		if h.Answered {
			ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(h.Behind), s.ID)
			ch <- prometheus.MustNewConstMetric(c.answer, prometheus.GaugeValue, h.SinceAnswer.Seconds(), s.ID)
		}
	}
}
