// Package grpcserver serves Roost's gRPC API (roost.v1 MailboxService and
// ClusterService) over a raftfsm.Store, and forwards what needs the leader
// to it. Its Forwarder is also how other front doors of a node, such as
// the MUPDATE listener, write from a follower.
package grpcserver
