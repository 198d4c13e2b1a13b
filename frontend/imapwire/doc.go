// Package imapwire is the wire layer of Roost's transparent IMAP proxy: it
// splits a client's commands and a backend's responses into line segments
// and literals, tokenizes only what routing needs (the tag, the command
// name, mailbox arguments, a response's tag, status and code), and leaves
// every other octet to be piped through unchanged.
//
// A full IMAP parser would have to know every extension a client or a
// Cyrus backend may speak, and would re-encode what it parsed; a proxy
// that only frames the stream passes unknown commands and responses
// through byte for byte, as Cyrus's and Dovecot's proxies do.
//
// # Parts
//
// A Reader returns a command or a response as a sequence of parts. Each
// Part is one line segment: the octets from the start of a line, or from
// the end of a literal, up to the next line ending. A segment that ends
// with a literal header ({n}, {n+}, ~{n} or ~{n+}) carries a Literal whose
// size and kind are known before any of its octets are read, and whose
// Body streams exactly those octets, so no message is ever held in memory.
// The command or response ends with the first segment that carries no
// literal. A header is recognised only outside quoted strings, so
// "a{3}" is not a literal, and never in a response line whose text is
// free-form (tagged and untagged OK, NO, BAD, BYE, PREAUTH, and
// continuation requests).
//
// # Synchronizing literals
//
// A client that sends {n} or ~{n} waits for a continuation request ("+")
// before it sends the octets. The Reader never writes: the caller either
// sends the continuation and then reads the Body, or refuses the command
// (a tagged NO or BAD) and calls Discard, which takes an untouched
// synchronizing literal as refused and does not wait for its octets.
//
// # Errors and resynchronisation
//
// ErrLineTooLong, ErrNUL and ErrLiteralTooLarge describe a malformed
// command that the caller answers with BAD (or NO). The Part returned with
// them holds the start of the offending line, so the tag can still be
// parsed for the reply. The next call to Next, or an explicit Discard,
// consumes the rest of that command: the rest of an overlong line, the
// octets of non-synchronizing literals, up to the end of the command or
// to a synchronizing literal the client is still waiting to send; the
// connection then stays usable. Errors from the underlying reader are
// sticky: every later call returns them.
//
// A Part's Line, and what the parse functions return from it, alias the
// Reader's buffer and stay valid until the next call to Next or Discard;
// reading the literal in between leaves them intact, so a command can be
// routed on its mailbox name before any of it is forwarded. A Reader or a
// Writer is not safe for concurrent use.
package imapwire
