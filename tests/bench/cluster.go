package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/roost-mail/roost/cmd/roostd/node"
	"github.com/roost-mail/roost/raftfsm"
)

// startCluster starts three nodes with default (production) Raft
// settings, the given log store and security and fsync on, and waits until all three are members.
func startCluster(dir string, inflight int, store raftfsm.RaftStore, sec *security) ([]*node.Node, error) {
	var nodes []*node.Node
	start := func(id string, join []string) error {
		c := node.Config{
			NodeID: id, DataDir: filepath.Join(dir, id),
			RaftAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			Bootstrap: len(join) == 0, Join: join,
			Store: raftfsm.Config{MaxInflight: inflight, RaftStore: store},
		}
		if err := sec.configure(&c); err != nil {
			return err
		}
		n, err := node.Start(c)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
		return nil
	}
	if err := start("b1", nil); err != nil {
		return nil, err
	}
	for _, id := range []string{"b2", "b3"} {
		if err := start(id, []string{nodes[0].GRPCAddr()}); err != nil {
			return nodes, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		servers, err := nodes[0].Store().Servers()
		ready := err == nil && len(servers) == 3
		for _, s := range servers {
			ready = ready && s.GRPCAddr != ""
		}
		if ready {
			return nodes, nil
		}
		time.Sleep(50 * time.Millisecond) // start-up only; nothing is measured yet
	}
	return nodes, fmt.Errorf("cluster did not form")
}

// maxTerm returns the highest Raft term any node is in: a row during
// which it grows saw an election (a leader lost, or a follower that timed
// out under the load).
func maxTerm(nodes []*node.Node) uint64 {
	var term uint64
	for _, n := range nodes {
		if st, err := n.Store().Status(); err == nil {
			term = max(term, st.Term)
		}
	}
	return term
}

// roles returns the leader and one follower.
func roles(nodes []*node.Node) (leader, follower *node.Node, err error) {
	for _, n := range nodes {
		if n.Store().IsLeader() {
			leader = n
		} else {
			follower = n
		}
	}
	if leader == nil {
		return nil, nil, errNoLeader
	}
	return leader, follower, nil
}

// entryCounts is the leader's roost_log_entry_operations histogram: log
// entries proposed and the operations they carried.
type entryCounts struct{ entries, ops float64 }

// since returns the operations per entry proposed after before.
func (c entryCounts) since(before entryCounts) float64 {
	if c.entries == before.entries {
		return 0
	}
	return (c.ops - before.ops) / (c.entries - before.entries)
}

// entryOps reads the entry histogram from a node's /metrics.
func entryOps(n *node.Node) (entryCounts, error) {
	resp, err := http.Get("http://" + n.HTTPAddr() + "/metrics")
	if err != nil {
		return entryCounts{}, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return entryCounts{}, fmt.Errorf("%s/metrics: %w", n.HTTPAddr(), err)
	}
	f := families["roost_log_entry_operations"]
	if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetHistogram() == nil {
		return entryCounts{}, fmt.Errorf("%s/metrics has no roost_log_entry_operations histogram", n.HTTPAddr())
	}
	h := f.GetMetric()[0].GetHistogram()
	return entryCounts{entries: float64(h.GetSampleCount()), ops: h.GetSampleSum()}, nil
}
