// Package frontend assembles roost-frontend, the user-facing half of a
// murder: a location cache (frontend/locator) fed by the cluster's Watch
// stream, the IMAP proxy (frontend/imapproxy) that routes each client's
// commands to the backends holding its mailboxes, the LMTP proxy
// (frontend/lmtpproxy) that delivers each recipient to its backend, the
// POP3 proxy (frontend/pop3proxy) that pipes a client to its INBOX's
// backend, and the HTTP endpoints for metrics and readiness. cmd/roost-frontend is a thin main over it,
// and tests start in-process frontends with it.
package frontend
