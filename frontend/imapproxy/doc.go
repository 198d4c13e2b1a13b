// Package imapproxy is roost-frontend's IMAP proxy: it authenticates a
// client against its INBOX's backend, answers LIST and NAMESPACE from the
// location cache, and routes every other command to the backend holding
// the mailbox it names, or to the backend of the selected mailbox, piping
// commands and responses through byte for byte with literals streamed
// (frontend/imapwire). Backend connections log in as the proxy identity
// with the user as the SASL authorization identity, as Cyrus's own
// frontends do, and are reused for the rest of the session.
package imapproxy
