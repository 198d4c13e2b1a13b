// Package node assembles a Roost cluster node: the replicated store, the
// gRPC API (with health and reflection), the HTTP endpoints for metrics,
// health and readiness, and the loops that join a cluster and keep this
// node's address registered. cmd/roostd is a thin main over it, and tests
// start in-process nodes with it. It lives beside the binary it composes
// (as Kubernetes keeps cmd/kube-apiserver/app), not under raftfsm: it wires
// the consensus core to its adapters, MUPDATE and gRPC, which themselves
// depend on the core.
package node
