// Package client is the Go client of a Roost cluster's gRPC API, shared by
// roostctl, roost-frontend, the benchmarks and, later, the backend agent.
// It knows several endpoints and moves to the next when a node is away,
// follows the Watch stream across nodes (resuming after the last revision
// it delivered, listing again when a node's history no longer reaches
// back that far, if asked), drives the Write stream, and carries the
// caller's identity: TLS with a client certificate, or a user name and
// password. It imports only the API's generated code, never the server.
package client
