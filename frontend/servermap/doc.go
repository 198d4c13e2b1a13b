// Package servermap says where a backend's services are. A location names
// its server ("backend1", or "host:port" when backends are named by their
// IMAP address, as Cyrus frontends dial them); roost-frontend reaches that
// server's IMAP, LMTP and POP3 listeners at the addresses an operator gives
// with --backend-map, or else on the server's host at the protocol's
// standard port.
package servermap
