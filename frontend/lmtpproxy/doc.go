// Package lmtpproxy is roost-frontend's LMTP proxy, Cyrus's lmtpproxyd
// on Roost: an MTA delivers to the frontend, which checks each recipient
// against the location cache at RCPT time, groups the recipients by the
// backend holding their mailboxes and runs one LMTP transaction on each,
// giving every recipient its own status.
//
// Failures that may pass are temporary. While the cache has never
// completed its first sync, or has not heard from the cluster for longer
// than Config.MaxStaleness, every RCPT gets 451: a frontend that does not
// know where mailboxes are must not bounce mail (Cyrus's does, with
// permanent 550s, while its copy is still syncing). A name the cache does
// not have is asked of the cluster before it is refused with 550. A
// backend that is down, or says a mailbox is not there (its location may
// have just moved), tempfails only its own recipients.
//
// The message passes through as the client sent it, dot-stuffed
// (message.go): streamed to a single backend, and held in an unlinked
// file, never in memory, when it goes to several, which then receive it
// at once. Backend connections log in as the proxy identity with AUTH
// PLAIN and are kept for the next delivery.
//
// The server is github.com/emersion/go-smtp's, and so is the client that
// opens backend connections; transactions on them are pipelined by the
// proxy itself (txn.go). params.go carries Cyrus's IGNOREQUOTA RCPT
// parameter, which go-smtp's server does not know, through it.
package lmtpproxy
