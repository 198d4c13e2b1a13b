package imapwire

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
)

// Defaults for Options.
const (
	// DefaultMaxLine is well above the 8192 octets RFC 7162 §4 asks
	// servers to accept, and far below anything that strains memory.
	DefaultMaxLine = 64 << 10
	// DefaultMaxLiteral bounds a client's literal, mostly APPEND's
	// message; the proxy streams it, so the bound is policy, not memory.
	DefaultMaxLiteral = 64 << 20
	// minLine keeps a response's first partial part long enough to show
	// its tag and status.
	minLine = 64
)

// Options configures a Reader. A nil *Options means the defaults.
type Options struct {
	// MaxLine bounds a line segment, literal header included, line ending
	// excluded. A command reader fails a longer segment with
	// ErrLineTooLong. A response reader, which must pass a backend's long
	// SEARCH or THREAD result through, returns it in Partial parts of at
	// most MaxLine octets instead. Zero or negative means DefaultMaxLine;
	// values below 64 act as 64.
	MaxLine int
	// MaxLiteral bounds a literal's size; Next fails a larger one with
	// ErrLiteralTooLarge before reading any of it. Zero means
	// DefaultMaxLiteral for a command reader and no bound for a response
	// reader; negative means no bound.
	MaxLiteral int64
}

type state uint8

const (
	atStart      state = iota // the next octet starts a command or response
	inLiteral                 // a literal's octets are due
	afterLiteral              // a literal has ended; its line goes on
	midSegment                // partway through a segment
)

// Reader splits a client's commands or a backend's responses into parts.
// It reads its bufio.Reader only as far as it must (buffering aside), so
// once a part without a literal has ended a command, the bufio.Reader is
// at the next command and may be handed elsewhere, say to a raw pipe for
// IDLE or COMPRESS.
type Reader struct {
	br         *bufio.Reader // immutable
	maxLine    int           // immutable
	maxLiteral int64         // immutable; negative means no bound
	response   bool          // immutable

	state  state
	failed bool    // Next failed; the next Next discards the rest first
	err    error   // sticky error of the underlying reader
	buf    []byte  // the current segment; Part.Line aliases it
	held   int     // octets at the end of buf kept back from a partial part
	scan   scanner // the current segment, as far as it has been read
	lit    Literal // the current literal; Part.Literal points here
	body   body    // lit.Body
}

// NewCommandReader returns a Reader for what a client sends.
func NewCommandReader(br *bufio.Reader, opts *Options) *Reader {
	return newReader(br, opts, false)
}

// NewResponseReader returns a Reader for what a server sends.
func NewResponseReader(br *bufio.Reader, opts *Options) *Reader {
	return newReader(br, opts, true)
}

func newReader(br *bufio.Reader, opts *Options, response bool) *Reader {
	var o Options
	if opts != nil {
		o = *opts
	}
	r := &Reader{br: br, maxLine: o.MaxLine, maxLiteral: o.MaxLiteral, response: response}
	if r.maxLine <= 0 {
		r.maxLine = DefaultMaxLine
	}
	r.maxLine = max(r.maxLine, minLine)
	switch {
	case r.maxLiteral == 0 && response:
		r.maxLiteral = -1
	case r.maxLiteral == 0:
		r.maxLiteral = DefaultMaxLiteral
	}
	r.body.r = r
	return r
}

// Next returns the next part. It first skips what the caller left of
// the last literal's octets, which for a synchronizing literal assumes the
// caller has sent the continuation request; a caller that refuses the
// literal calls Discard instead. After a protocol error it first discards
// the rest of the failed command.
//
// At the start of a command or response, Next returns io.EOF when the
// stream ends cleanly; elsewhere an early end is io.ErrUnexpectedEOF.
// With ErrLineTooLong, ErrNUL or ErrLiteralTooLarge the returned Part
// still holds the start of the line (for its tag) and, for
// ErrLiteralTooLarge, the Literal, so the caller knows whether the client
// is waiting or already sending.
func (r *Reader) Next() (Part, error) {
	if r.err != nil {
		return Part{}, r.err
	}
	if r.failed {
		if err := r.Discard(); err != nil {
			return Part{}, err
		}
	}
	if r.state == inLiteral {
		if err := r.body.drain(); err != nil {
			return Part{}, err
		}
		r.state = afterLiteral
	}
	return r.readPart()
}

// Discard consumes the rest of the current command or response without
// returning it, so the caller can refuse a command and read the next one.
// It reads and drops the octets of non-synchronizing literals and of
// synchronizing literals whose Body has been read from; it stops, without
// reading, at a synchronizing literal whose Body is untouched, since the
// client will not send it unless it gets a continuation request.
func (r *Reader) Discard() error {
	if r.err != nil {
		return r.err
	}
	r.failed = false
	for r.state != atStart {
		switch r.state {
		case inLiteral:
			if r.lit.Sync && !r.body.touched {
				r.state, r.body.n = atStart, 0 // never sent
				return nil
			}
			if err := r.body.drain(); err != nil {
				return err
			}
			r.state = afterLiteral
		case afterLiteral:
			r.scan.reset()
			r.state = midSegment
		case midSegment:
			if err := r.skipSegment(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReadLiteral reads the rest of the current literal whole, for small
// values such as a mailbox name. It fails with ErrLiteralTooLarge, reading
// nothing, when more than max octets remain, so for a synchronizing
// literal check Size before sending the continuation; it fails with ErrNUL
// for a NUL in a non-binary literal. Either failure makes the next Next
// discard the rest of the command.
func (r *Reader) ReadLiteral(max int64) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.state != inLiteral {
		return nil, ErrNoLiteral
	}
	if r.body.n > max {
		r.failed = true
		return nil, fmt.Errorf("%w: %d octets, at most %d", ErrLiteralTooLarge, r.body.n, max)
	}
	b := make([]byte, r.body.n)
	if _, err := io.ReadFull(&r.body, b); err != nil {
		return nil, err
	}
	if !r.lit.Binary && bytes.IndexByte(b, 0) >= 0 {
		r.failed = true
		return nil, ErrNUL
	}
	return b, nil
}

// readPart reads the next segment, or the next piece of a long one.
func (r *Reader) readPart() (Part, error) {
	start := r.state == atStart
	if r.state == midSegment {
		r.buf = r.buf[:copy(r.buf, r.buf[len(r.buf)-r.held:])]
	} else {
		r.buf = r.buf[:0]
		r.scan.reset()
	}
	r.held = 0
	limit := r.maxLine + 1 // room for the CR of a segment at the limit
	if r.response {
		limit = r.maxLine
	}
	ended, err := r.fill(limit)
	if err != nil {
		if err == io.EOF && start && len(r.buf) == 0 {
			return Part{}, r.fail(io.EOF)
		}
		return Part{}, r.fail(unexpected(err))
	}
	if start && r.response {
		r.scan.text = isTextResponse(r.buf)
	}
	if !ended {
		return r.partial()
	}
	return r.endSegment()
}

// fill appends octets of the current segment to buf, feeding them to the
// scanner, until it has read the LF that ends the segment (which it
// consumes but does not append) or buf holds limit octets and the next
// one is not LF.
func (r *Reader) fill(limit int) (bool, error) {
	for {
		chunk, err := r.peek()
		if err != nil {
			return false, err
		}
		room := limit - len(r.buf)
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 || i > room {
			if room == 0 {
				return false, nil
			}
			r.take(chunk[:min(len(chunk), room)], 0)
			continue
		}
		r.take(chunk[:i], 1)
		return true, nil
	}
}

// take moves b, the start of the buffered input, to buf and the scanner,
// and consumes skip octets more.
func (r *Reader) take(b []byte, skip int) {
	r.buf = append(r.buf, b...)
	r.scan.feed(b)
	r.br.Discard(len(b) + skip) // buffered, so it cannot fail
}

// partial handles a segment longer than the limit.
func (r *Reader) partial() (Part, error) {
	if !r.response {
		r.state, r.failed = midSegment, true
		return Part{Line: r.buf[:r.maxLine]}, ErrLineTooLong
	}
	// Keep back what may yet be a literal header or the CR of CRLF, so
	// that the part holding the line's end holds all of the header.
	hold := r.scan.pending(len(r.buf) / 2)
	r.state, r.held = midSegment, hold
	p := Part{Line: r.buf[:len(r.buf)-hold], Partial: true}
	if bytes.IndexByte(p.Line, 0) >= 0 {
		r.failed = true
		return p, ErrNUL
	}
	return p, nil
}

// endSegment completes a segment whose LF has been read.
func (r *Reader) endSegment() (Part, error) {
	crlf, h, ok := r.scan.end()
	line := r.buf
	if crlf {
		line = line[:len(line)-1]
	}
	p := Part{Line: line, CRLF: crlf}
	r.state = atStart
	if ok {
		p.Literal = r.announce(h)
	}
	var err error
	switch {
	case !r.response && len(line) > r.maxLine:
		p.Line, p.Literal = line[:r.maxLine], nil
		err = ErrLineTooLong
	case bytes.IndexByte(line, 0) >= 0:
		err = ErrNUL
	case ok && h.big:
		err = fmt.Errorf("%w: size overflows", ErrLiteralTooLarge)
	case ok && r.maxLiteral >= 0 && h.size > r.maxLiteral:
		err = fmt.Errorf("%w: %d octets, at most %d", ErrLiteralTooLarge, h.size, r.maxLiteral)
	}
	r.failed = err != nil
	return p, err
}

// announce makes h the current literal, its octets due next.
func (r *Reader) announce(h header) *Literal {
	size := h.size
	if h.big {
		size = math.MaxInt64
	}
	r.lit = Literal{
		Size:   size,
		Sync:   !h.plus && !r.response,
		Binary: h.binary,
		Body:   &r.body,
		hdrLen: h.n,
	}
	r.body = body{r: r, n: size}
	r.state = inLiteral
	return &r.lit
}

// skipSegment consumes the rest of the current segment, however long,
// and notes the literal it announces.
func (r *Reader) skipSegment() error {
	for {
		chunk, err := r.peek()
		if err != nil {
			return r.fail(unexpected(err))
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			r.scan.feed(chunk[:i])
			r.br.Discard(i + 1)
			break
		}
		r.scan.feed(chunk)
		r.br.Discard(len(chunk))
	}
	r.state = atStart
	if _, h, ok := r.scan.end(); ok {
		r.announce(h)
	}
	return nil
}

// peek returns the buffered input, waiting for some if there is none.
func (r *Reader) peek() ([]byte, error) {
	if r.br.Buffered() == 0 {
		if _, err := r.br.Peek(1); err != nil {
			return nil, err
		}
	}
	return r.br.Peek(r.br.Buffered())
}

// fail makes err, from the underlying reader, sticky.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// unexpected turns io.EOF in the middle of something into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
