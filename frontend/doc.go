// Package frontend will hold Roost's own frontend: a local cache of the
// mailbox database fed by the gRPC Watch stream (resuming from its last
// revision), and IMAP and LMTP proxies that route each mailbox to the
// backend holding it.
package frontend
