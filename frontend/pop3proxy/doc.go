// Package pop3proxy is roost-frontend's POP3 proxy, Cyrus's pop3proxyd
// on Roost: it serves POP3 until the client authenticates (USER and PASS,
// or AUTH PLAIN; STLS with the frontend's certificate), finds the user's
// INBOX in the location cache, logs in to that backend's POP3 service
// with the client's own credentials, so that the backend checks them as
// it does for IMAP, and from then on pipes the bytes both ways.
//
// A POP3 session only ever sees the INBOX, so one backend serves it whole
// and the proxy need not understand the transaction state at all.
package pop3proxy
