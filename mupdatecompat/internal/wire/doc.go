// Package wire reads and writes the MUPDATE (RFC 3656) line protocol as
// Cyrus 3.x speaks it: tagged command lines whose arguments are quoted
// strings, synchronising ({N}) or non-synchronising ({N+}) literals, or
// atoms, and responses whose every datum is a quoted string.
//
// The decoder is built for hostile input: lines and literals are bounded,
// and a malformed command is consumed up to its end of line so the
// connection stays usable after a BAD.
package wire
