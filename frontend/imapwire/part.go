package imapwire

import "io"

// Part is one line segment of a command or response, and the literal
// that ends it, if any.
type Part struct {
	// Line is the segment as sent, without its line ending: from the
	// start of the line or the end of the previous literal, up to and
	// including any literal header. It aliases the Reader's buffer.
	Line []byte
	// Literal is the literal announced at the end of Line; its octets
	// follow the line ending. Nil when the segment ends the command or
	// response.
	Literal *Literal
	// CRLF reports that the segment ended with CRLF rather than a bare LF.
	CRLF bool
	// Partial reports that Line is only a piece of a segment longer than
	// MaxLine, which continues in the next part. Only a response reader
	// returns partial parts; their CRLF and Literal are unset.
	Partial bool
}

// Text returns Line without its literal header, for a caller that
// rewrites the header (as {n+} for a backend) and forwards the rest.
func (p Part) Text() []byte {
	if p.Literal == nil {
		return p.Line
	}
	return p.Line[:len(p.Line)-min(p.Literal.hdrLen, len(p.Line))]
}

// Literal is a literal's header and, when a Reader returns it, a stream
// of its octets.
type Literal struct {
	// Size is the number of octets announced. A size beyond
	// math.MaxInt64 reads as math.MaxInt64 and is always too large.
	Size int64
	// Sync reports a synchronizing literal, {n} or ~{n}: the client waits
	// for a continuation request before sending the octets. A server never
	// waits, so Sync is false in every response part.
	Sync bool
	// Binary reports a binary literal, ~{n} (RFC 3516), which may hold NUL.
	Binary bool
	// Body reads exactly Size octets, then returns io.EOF, or
	// io.ErrUnexpectedEOF if the stream ends first. The octets are passed
	// as sent: a NUL in a non-binary literal is left for the backend to
	// refuse, since the proxy may have forwarded part of it already.
	// Body implements io.WriterTo, so io.Copy streams it without a buffer
	// of its own. Unused in a Literal given to WriteLiteralHeader.
	Body io.Reader

	hdrLen int // octets of the header at the end of Part.Line
}

// body streams the current literal's octets straight from the Reader's
// bufio.Reader, so a literal of any size costs no memory of its own.
type body struct {
	r       *Reader
	n       int64 // octets left
	touched bool  // Read or WriteTo was called: the octets are coming
}

var _ io.WriterTo = (*body)(nil)

func (b *body) Read(p []byte) (int, error) {
	b.touched = true
	if b.r.err != nil {
		return 0, b.r.err
	}
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.br.Read(p)
	b.n -= int64(n)
	if err != nil {
		return n, b.r.fail(unexpected(err))
	}
	return n, nil
}

// WriteTo writes the octets from the bufio.Reader's buffer, saving
// io.Copy the buffer it would otherwise allocate.
func (b *body) WriteTo(w io.Writer) (int64, error) {
	b.touched = true
	var total int64
	for b.n > 0 {
		chunk, err := b.r.peek()
		if err != nil {
			return total, b.r.fail(unexpected(err))
		}
		if int64(len(chunk)) > b.n {
			chunk = chunk[:b.n]
		}
		m, err := w.Write(chunk)
		b.r.br.Discard(m)
		b.n -= int64(m)
		total += int64(m)
		if err != nil {
			return total, err
		}
		if m < len(chunk) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// drain skips the octets left.
func (b *body) drain() error {
	if b.r.err != nil {
		return b.r.err
	}
	for b.n > 0 {
		m, err := b.r.br.Discard(int(min(b.n, 1<<30)))
		b.n -= int64(m)
		if err != nil {
			return b.r.fail(unexpected(err))
		}
	}
	return nil
}
