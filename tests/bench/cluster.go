package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/node"
)

// startCluster starts three nodes with default (production) Raft
// settings and fsync on, and waits until all three are members.
func startCluster(dir string, inflight int) ([]*node.Node, error) {
	var nodes []*node.Node
	start := func(id string, join []string) error {
		n, err := node.Start(node.Config{
			NodeID: id, DataDir: filepath.Join(dir, id),
			RaftAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
			Bootstrap: len(join) == 0, Join: join,
			Store: raftfsm.Config{MaxInflight: inflight},
		})
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

// roles returns the leader and one follower.
func roles(ctx context.Context, nodes []*node.Node) (leader, follower *node.Node, err error) {
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
