package lmtpproxy

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/roost-mail/roost/frontend/internal/linger"
)

// Cyrus's lmtpd has a RCPT parameter of its own, IGNOREQUOTA (deliver even
// over quota; Cyrus's deliver -q and frontends send it), which go-smtp's
// server refuses as unknown (the proxy's own transactions, txn.go, send
// it on). paramConn carries it through the server: it advertises the capability in the LHLO reply
// and takes the parameter off RCPT command lines before go-smtp reads
// them, keeping it for the session. It touches command lines only: it
// follows the conversation as go-smtp does, passing DATA contents through
// unread, and where it cannot tell it passes bytes on
// unchanged, which at worst leaves an IGNOREQUOTA for go-smtp to refuse.
//
// It relies on go-smtp reading commands from a buffer it refills only when
// empty: paramConn hands over nothing past a DATA line, so the next Read
// comes once go-smtp has answered it, and the last reply written tells
// whether the message follows.
type paramConn struct {
	net.Conn
	br      *bufio.Reader
	idle    renewal // each Read may wait this long
	pending []byte  // transformed bytes, handed over up to off
	off     int

	mode     int         // what the next bytes are
	dotState int         // in modeData: go-smtp's end-of-data state machine
	dots     int64       // in modeData: lines begun with a dot
	broken   error       // the conversation cannot go on: every Read fails so
	tooLong  atomic.Bool // a command line was too long: the connection ends

	w         coalescer // replies
	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	lastReply string   // protected by mu: the code of the last reply written
	rcpts     []rcptTo // protected by mu: RCPT lines handed over, oldest first
}

// rcptTo is one RCPT line as paramConn saw it.
type rcptTo struct {
	path        string // between the angle brackets
	ignoreQuota bool
}

const (
	modeCommand   = iota
	modeAfterData // a DATA line was handed over; its reply decides
	modeAfterAuth // an AUTH line or response was handed over; its reply decides
	modeAuthLine  // a SASL response line follows
	modeAfterSTARTTLS
	modeData // message contents up to CRLF.CRLF
	modePassthrough
)

// readBuffer is how much of the client's data one read takes: a whole
// message of 10 KB in one system call, where go-smtp's own buffer is 4 KB.
const readBuffer = 64 << 10

func newParamConn(c net.Conn, idle time.Duration) *paramConn {
	return &paramConn{Conn: c, br: bufio.NewReaderSize(c, readBuffer), idle: renewal{length: idle, set: c.SetReadDeadline}}
}

// maxCommandLine is the longest command line taken. go-smtp's own limit
// is off (it would apply to message lines too, which Cyrus's lmtpd takes
// at any length), so paramConn keeps it for commands: a longer one ends
// the connection with go-smtp's own 500.
const maxCommandLine = 4096

// maxQueued bounds the RCPTs paramConn remembers in one transaction.
const maxQueued = 4096

func (c *paramConn) Read(b []byte) (int, error) {
	if c.broken != nil {
		return 0, c.broken
	}
	c.idle.renew()
	if len(c.pending) == 0 {
		// The next bytes may have to come from the client, which may be
		// waiting for the replies held so far.
		if err := c.w.flush(c.Conn); err != nil {
			return 0, err
		}
		if err := c.fill(len(b)); err != nil && len(c.pending) == 0 {
			return 0, err
		}
	}
	n := copy(b, c.pending[c.off:])
	if c.off += n; c.off == len(c.pending) {
		c.pending, c.off = c.pending[:0], 0
	}
	return n, nil
}

// fill prepares the next bytes to hand over, up to about max.
func (c *paramConn) fill(max int) error {
	if c.tooLong.Load() {
		return smtp.ErrTooLongLine
	}
	c.advance()
	switch c.mode {
	case modeData:
		return c.fillData(max)
	case modePassthrough:
		return c.fillRaw(max)
	}
	// Hand over whole command lines already buffered, stopping after one
	// that changes what follows.
	for {
		line, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(line) > maxCommandLine {
			c.tooLong.Store(true)
			if len(c.pending) > 0 {
				return nil // the lines before it first
			}
			return smtp.ErrTooLongLine
		}
		if err != nil {
			c.pending = append(c.pending, line...)
			return err
		}
		if c.mode == modeAuthLine {
			c.mode = modeAfterAuth
			c.pending = append(c.pending, line...)
		} else {
			c.pending = c.command(c.pending, line)
		}
		if c.mode != modeCommand || c.br.Buffered() == 0 || len(c.pending) >= max {
			return nil
		}
		if !bytes.Contains(peekAll(c.br), []byte{'\n'}) {
			return nil
		}
	}
}

// breakOff makes every later Read fail with err, which ends the
// connection, and returns err.
func (c *paramConn) breakOff(err error) error {
	c.broken = err
	return err
}

// advance settles what the bytes after a DATA, AUTH or STARTTLS line are,
// now that go-smtp has answered it.
func (c *paramConn) advance() {
	switch c.mode {
	case modeAfterData:
		c.mode = modeCommand
		if c.reply() == "354" {
			c.mode, c.dotState, c.dots = modeData, 0, 0
		}
	case modeAfterAuth:
		c.mode = modeCommand
		if c.reply() == "334" {
			c.mode = modeAuthLine
		}
	case modeAfterSTARTTLS:
		c.mode = modeCommand
		if c.reply() == "220" {
			c.mode = modePassthrough
		}
	}
}

func peekAll(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// command appends one command line to dst, rewritten when it is a RCPT
// with IGNOREQUOTA, and notes what follows it.
func (c *paramConn) command(dst, line []byte) []byte {
	text := strings.TrimRight(string(line), "\r\n")
	verb, arg, _ := strings.Cut(text, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToUpper(verb) {
	case "DATA":
		// go-smtp's reply says whether a message follows.
		c.mode = modeAfterData
	case "MAIL", "RSET":
		// A new transaction: RCPTs go-smtp refused before are forgotten.
		c.mu.Lock()
		c.rcpts = c.rcpts[:0]
		c.mu.Unlock()
	case "BDAT":
		// CHUNKING is not offered: go-smtp v0.26 races between a chunked
		// message's goroutine and the next transaction after a RSET. A
		// client that sends BDAT all the same gets 501, as from a server
		// without it, and its chunk is read as commands.
		return append(dst, "NOCHUNKING\r\n"...)
	case "AUTH":
		// SASL responses, which are not commands, follow while the
		// server answers 334.
		c.mode = modeAfterAuth
	case "STARTTLS":
		// TLS follows its 220, which this layer, beneath it, cannot read.
		c.mode = modeAfterSTARTTLS
	case "RCPT":
		if r, rewritten, ok := parseRcpt(arg); ok {
			c.mu.Lock()
			if len(c.rcpts) < maxQueued {
				c.rcpts = append(c.rcpts, r)
			}
			c.mu.Unlock()
			if r.ignoreQuota {
				eol := line[len(text):]
				return append(append(dst, verb+" "+rewritten...), eol...)
			}
		}
	}
	return append(dst, line...)
}

// parseRcpt finds the path and an IGNOREQUOTA parameter of a RCPT's
// argument, and returns the argument without that parameter.
func parseRcpt(arg string) (r rcptTo, rewritten string, ok bool) {
	if len(arg) < 3 || !strings.EqualFold(arg[:3], "TO:") {
		return r, "", false
	}
	rest := strings.TrimLeft(arg[3:], " ")
	if !strings.HasPrefix(rest, "<") {
		return r, "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return r, "", false
	}
	r.path = rest[1:end]
	params := strings.Fields(rest[end+1:])
	kept := params[:0]
	for _, p := range params {
		if strings.EqualFold(p, "IGNOREQUOTA") {
			r.ignoreQuota = true
			continue
		}
		kept = append(kept, p)
	}
	rewritten = arg[:len(arg)-len(rest)] + rest[:end+1]
	if len(kept) > 0 {
		rewritten += " " + strings.Join(kept, " ")
	}
	return r, rewritten, true
}

// fillData hands over message contents, ending at the CRLF.CRLF that ends
// them for go-smtp's dataReader. It serves only a message the session did
// not take itself with message (whose reader takes the same path through
// the same state).
func (c *paramConn) fillData(max int) error {
	chunk, err := c.available(max)
	if err != nil {
		return err
	}
	n, end := c.scanData(chunk)
	if end {
		c.mode = modeCommand
	}
	c.take(chunk[:n])
	return nil
}

// scanData follows the message in chunk, as go-smtp's dataReader does
// (bare LFs do not end lines there), and returns how much of chunk belongs
// to it and whether that ends it.
func (c *paramConn) scanData(chunk []byte) (n int, end bool) {
	const (
		beginLine = iota
		dot
		dotCR
		cr
		data
	)
	for n < len(chunk) {
		if c.dotState == data {
			// Inside a line only a CR matters: skip to it.
			i := bytes.IndexByte(chunk[n:], '\r')
			if i < 0 {
				return len(chunk), false
			}
			n += i + 1
			c.dotState = cr
			continue
		}
		b := chunk[n]
		n++
		switch c.dotState {
		case beginLine:
			switch b {
			case '.':
				c.dotState, c.dots = dot, c.dots+1
			case '\r':
				c.dotState = cr
			default:
				c.dotState = data
			}
		case dot:
			c.dotState = data
			if b == '\r' {
				c.dotState = dotCR
			}
		case dotCR:
			c.dotState = data
			if b == '\n' {
				return n, true
			}
		case cr:
			c.dotState = data
			if b == '\n' {
				c.dotState = beginLine
			}
		}
	}
	return n, false
}

func (c *paramConn) fillRaw(max int) error {
	chunk, err := c.available(max)
	if err != nil {
		return err
	}
	c.take(chunk)
	return nil
}

// available returns up to max buffered bytes, reading once if none are.
func (c *paramConn) available(max int) ([]byte, error) {
	if c.br.Buffered() == 0 {
		if _, err := c.br.Peek(1); err != nil {
			return nil, err
		}
	}
	return c.br.Peek(min(max, c.br.Buffered()))
}

// take hands over chunk, which was peeked from br.
func (c *paramConn) take(chunk []byte) {
	c.pending = append(c.pending, chunk...)
	c.br.Discard(len(chunk))
}

// Write notes each reply's code, adds IGNOREQUOTA to the LHLO reply's
// capabilities and takes CHUNKING out. go-smtp writes one line per Write.
func (c *paramConn) Write(b []byte) (int, error) {
	switch {
	case bytes.Equal(b, []byte("250-PIPELINING\r\n")):
		c.w.write(c.Conn, []byte("250-IGNOREQUOTA\r\n"))
	case bytes.Equal(b, []byte("250-CHUNKING\r\n")):
		return len(b), nil
	}
	c.noteReplies(b)
	return c.w.write(c.Conn, b)
}

// Close sends the replies held, then closes. After a command line too
// long to take, the client is likely still sending it: see linger.
func (c *paramConn) Close() error {
	c.closeOnce.Do(func() {
		closeConn := net.Conn.Close
		if c.tooLong.Load() {
			closeConn = linger.Close
		}
		c.closeErr = c.w.closeFlushed(c.Conn, closeConn)
	})
	return c.closeErr
}

func (c *paramConn) noteReplies(b []byte) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i+1], b[i+1:]
		} else {
			b = nil
		}
		if len(line) >= 4 && line[3] != '-' {
			c.mu.Lock()
			c.lastReply = string(line[:3])
			c.mu.Unlock()
		}
	}
}

func (c *paramConn) reply() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastReply
}

// ignoreQuota reports whether the RCPT that go-smtp passed on for path
// carried IGNOREQUOTA. Lines go-smtp refused before the session saw them
// are skipped on the way.
func (c *paramConn) ignoreQuota(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.rcpts) > 0 {
		r := c.rcpts[0]
		c.rcpts = c.rcpts[1:]
		if r.path == path {
			return r.ignoreQuota
		}
	}
	return false
}
