package imapwire

import (
	"bytes"
	"math"
)

// scanner follows one line segment octet by octet, as it arrives, and
// tells at its end whether it ended in a literal header. It works on a
// stream rather than on a buffered line so that a segment too long to
// hold (a command line being skipped, a response passed through in
// pieces) is judged by exactly the same rules as a short one.
type scanner struct {
	text    bool // the segment is response text, which carries no literal
	quoted  bool // inside a quoted string
	escaped bool // after a backslash inside a quoted string
	cr      bool // the last octet fed was a CR that may end the line
	h       header
}

// Phases of a literal header being recognised at the end of a segment.
const (
	phNone   uint8 = iota
	phTilde        // ~
	phOpen         // ~{ or {
	phDigits       // {1
	phPlus         // {1+
	phClosed       // {1} or {1+}
)

// header is the literal header candidate that ends the octets fed so far.
type header struct {
	phase  uint8
	n      int   // octets of the candidate
	size   int64 // value of its digits, if !big
	big    bool  // the digits exceed math.MaxInt64
	binary bool  // ~{
	plus   bool  // non-synchronizing: {n+}
}

// reset starts a new segment.
func (s *scanner) reset() { *s = scanner{} }

// feed consumes octets of the segment; b holds no LF. A CR at the end of
// b is held back until the next octet shows whether it ends the line.
func (s *scanner) feed(b []byte) {
	if len(b) == 0 {
		return
	}
	if s.cr {
		s.cr = false
		s.octet('\r')
	}
	if b[len(b)-1] == '\r' {
		s.cr = true
		b = b[:len(b)-1]
	}
	for _, c := range b {
		s.octet(c)
	}
}

func (s *scanner) octet(c byte) {
	if !s.quoted {
		s.h.next(c)
		s.quoted = c == '"'
		return
	}
	switch {
	case s.escaped:
		s.escaped = false
	case c == '\\':
		s.escaped = true
	case c == '"':
		s.quoted = false
	}
}

// end is called at the LF that ends the segment. It reports whether a CR
// preceded the LF and the literal header the segment ended with, if any.
func (s *scanner) end() (crlf bool, h header, ok bool) {
	crlf, s.cr = s.cr, false
	if s.text || s.quoted || s.h.phase != phClosed {
		return crlf, header{}, false
	}
	return crlf, s.h, true
}

// pending is how many octets fed so far may still turn out to be a
// literal header or the CR of the line ending, and so must not be handed
// out yet in a partial part. A header candidate that would take it past
// max is given up: it cannot be a header a sane peer sends.
func (s *scanner) pending(max int) int {
	n := 0
	if s.cr {
		n = 1
	}
	if s.h.phase != phNone && n+s.h.n <= max {
		n += s.h.n
	}
	return n
}

func (h *header) next(c byte) {
	switch {
	case c == '~':
		*h = header{phase: phTilde, n: 1, binary: true}
	case c == '{' && h.phase == phTilde:
		h.phase, h.n = phOpen, h.n+1
	case c == '{':
		*h = header{phase: phOpen, n: 1}
	case '0' <= c && c <= '9' && (h.phase == phOpen || h.phase == phDigits):
		h.phase, h.n = phDigits, h.n+1
		h.addDigit(int64(c - '0'))
	case c == '+' && h.phase == phDigits:
		h.phase, h.n, h.plus = phPlus, h.n+1, true
	case c == '}' && (h.phase == phDigits || h.phase == phPlus):
		h.phase, h.n = phClosed, h.n+1
	default:
		*h = header{}
	}
}

func (h *header) addDigit(d int64) {
	if h.big || h.size > (math.MaxInt64-d)/10 {
		h.big = true
		return
	}
	h.size = h.size*10 + d
}

// isTextResponse reports whether a response line is a continuation
// request or a status response (RFC 9051 §7.1), whose resp-text is
// free-form: a trailing "{5}" there is text, not a literal.
func isTextResponse(line []byte) bool {
	if len(line) > 0 && line[0] == '+' {
		return true
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	word := line[sp+1:]
	if i := bytes.IndexAny(word, " \r"); i >= 0 {
		word = word[:i]
	}
	return isStatus(word)
}

// isStatus reports whether word names a status response, in any case.
func isStatus(word []byte) bool {
	for _, s := range [...]string{"OK", "NO", "BAD", "BYE", "PREAUTH"} {
		if bytes.EqualFold(word, []byte(s)) {
			return true
		}
	}
	return false
}
