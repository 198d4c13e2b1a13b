package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Defaults for Decoder limits. RFC 3656 §2 requires at least 1024-octet
// lines and 4096-octet literals.
const (
	DefaultMaxLine    = 8 << 10
	DefaultMaxLiteral = 64 << 10
	// maxArgs bounds arguments per command; PARTIAL-UPDATE takes at most 30.
	maxArgs = 64
)

// Command is one decoded command line.
type Command struct {
	Tag  string   // byte-exact, echoed in replies
	Name string   // upper case
	Args []string // decoded strings, byte-exact
}

// SyntaxError is a malformed command. The decoder has consumed the whole
// command, so the connection is still usable: the caller answers
// `Tag BAD "Msg"` (untagged `* BAD` when Tag is empty) and reads on.
type SyntaxError struct {
	Tag string
	Msg string
}

func (e *SyntaxError) Error() string { return "mupdate: " + e.Msg }

// Decoder reads commands. It is not safe for concurrent use.
type Decoder struct {
	r *bufio.Reader
	// MaxLine bounds a line outside literals (DefaultMaxLine if zero).
	MaxLine int
	// MaxLiteral bounds one literal (DefaultMaxLiteral if zero).
	MaxLiteral int
	// GoAhead is called before the data of a synchronising literal is
	// read; it must send "+ go ahead" and flush. Nil refuses {N} literals
	// unless ReadsResponses is set.
	GoAhead func() error
	// ReadsResponses makes the decoder read a server's responses, in
	// which Cyrus clients take {N} like {N+}: nothing waits.
	ReadsResponses bool

	n int // bytes of the current line read outside literals
}

// NewDecoder returns a decoder reading from r.
func NewDecoder(r *bufio.Reader) *Decoder { return &Decoder{r: r} }

func (d *Decoder) maxLine() int {
	if d.MaxLine > 0 {
		return d.MaxLine
	}
	return DefaultMaxLine
}

func (d *Decoder) maxLiteral() int {
	if d.MaxLiteral > 0 {
		return d.MaxLiteral
	}
	return DefaultMaxLiteral
}

// errLine is a malformed line whose rest must be skipped.
type errLine struct{ msg string }

func (e errLine) Error() string { return e.msg }

// ReadCommand reads the next command. It returns a *SyntaxError for a
// malformed command (the connection stays usable) and any other error
// (I/O, EOF) when the connection is finished.
func (d *Decoder) ReadCommand() (*Command, error) {
	d.n = 0
	cmd, err := d.readCommand()
	var el errLine
	switch {
	case err == nil:
		return cmd, nil
	case errors.As(err, &el):
		if serr := d.skipLine(); serr != nil {
			return nil, serr
		}
		return nil, &SyntaxError{Tag: cmd.Tag, Msg: el.msg}
	}
	var se *SyntaxError
	if errors.As(err, &se) {
		se.Tag = cmd.Tag
	}
	return nil, err
}

// readCommand parses one line. It always returns a non-nil command, so
// the tag is known for the error reply.
func (d *Decoder) readCommand() (*Command, error) {
	cmd := &Command{}
	tag, err := d.readWord()
	if err != nil {
		return cmd, err
	}
	if tag == "" {
		return cmd, errLine{"Need command"}
	}
	if c, err := d.peek(); err != nil {
		return cmd, err
	} else if c != ' ' {
		return cmd, errLine{"Need command"}
	}
	cmd.Tag = tag
	if _, err := d.readByte(); err != nil {
		return cmd, err
	}
	name, err := d.readWord()
	if err != nil {
		return cmd, err
	}
	if name == "" {
		return cmd, errLine{"Null command"}
	}
	cmd.Name = strings.ToUpper(name)
	for {
		c, err := d.readByte()
		if err != nil {
			return cmd, err
		}
		switch c {
		case '\n':
			return cmd, nil
		case '\r':
			if c, err = d.readByte(); err != nil {
				return cmd, err
			}
			if c != '\n' {
				return cmd, errLine{"Missing newline"}
			}
			return cmd, nil
		case ' ':
			if len(cmd.Args) == maxArgs {
				return cmd, errLine{"Extra arguments"}
			}
			arg, err := d.readString()
			if err != nil {
				return cmd, err
			}
			cmd.Args = append(cmd.Args, arg)
		default:
			return cmd, errLine{"Badly formed arguments"}
		}
	}
}

// readString reads a quoted string, a literal or an atom.
func (d *Decoder) readString() (string, error) {
	c, err := d.peek()
	if err != nil {
		return "", err
	}
	switch c {
	case '"', '{':
		if _, err := d.readByte(); err != nil {
			return "", err
		}
		if c == '"' {
			return d.readQuoted()
		}
		return d.readLiteral()
	}
	w, err := d.readWord()
	if err == nil && w == "" {
		err = errLine{"Missing arguments"}
	}
	return w, err
}

func (d *Decoder) readQuoted() (string, error) {
	var b strings.Builder
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if c, err = d.readByte(); err != nil {
				return "", err
			}
		}
		switch c {
		case 0:
			return "", errLine{"NUL in quoted string"}
		case '\r', '\n':
			// The line has ended inside the string: nothing to skip.
			if p, err := d.r.Peek(1); c == '\r' && err == nil && p[0] == '\n' {
				d.r.Discard(1)
			}
			return "", &SyntaxError{Msg: "Unterminated quoted string"}
		}
		b.WriteByte(c)
	}
}

// readLiteral reads {N} or {N+}, its line end and N bytes.
func (d *Decoder) readLiteral() (string, error) {
	var digits []byte
	var c byte
	var err error
	for {
		if c, err = d.readByte(); err != nil {
			return "", err
		}
		if c < '0' || c > '9' || len(digits) > 10 {
			break
		}
		digits = append(digits, c)
	}
	sync := true
	if c == '+' {
		sync = false
		if c, err = d.readByte(); err != nil {
			return "", err
		}
	}
	if c != '}' || len(digits) == 0 {
		return "", errLine{"Badly formed literal"}
	}
	if c, err = d.readByte(); err == nil && c == '\r' {
		c, err = d.readByte()
	}
	if err != nil {
		return "", err
	}
	if c != '\n' {
		return "", errLine{"Missing newline after literal size"}
	}
	size, perr := strconv.ParseUint(string(digits), 10, 63)
	if perr != nil || size > uint64(d.maxLiteral()) {
		if sync && !d.ReadsResponses {
			return "", &SyntaxError{Msg: fmt.Sprintf("literal too big (over %d bytes)", d.maxLiteral())}
		}
		// The client sends the data anyway: drop it, then the line.
		if _, err := d.r.Discard(int(min(size, 1<<62))); err != nil {
			return "", err
		}
		return "", errLine{"Literal too big"}
	}
	if sync && !d.ReadsResponses {
		if d.GoAhead == nil {
			return "", &SyntaxError{Msg: "Synchronising literals not accepted"}
		}
		if err := d.GoAhead(); err != nil {
			return "", err
		}
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(d.r, buf); err != nil {
		return "", err
	}
	if bytes.IndexByte(buf, 0) >= 0 {
		return "", errLine{"NUL in literal"}
	}
	return string(buf), nil
}

// readWord reads bytes up to a space, line end or one of ( ) " {.
func (d *Decoder) readWord() (string, error) {
	var b []byte
	for {
		c, err := d.peek()
		if err != nil {
			return "", err
		}
		switch c {
		case ' ', '\r', '\n', '(', ')', '"', '{', 0:
			return string(b), nil
		}
		if _, err := d.readByte(); err != nil {
			return "", err
		}
		b = append(b, c)
	}
}

func (d *Decoder) peek() (byte, error) {
	b, err := d.r.Peek(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// readByte reads one byte of the line outside literals, enforcing MaxLine.
func (d *Decoder) readByte() (byte, error) {
	if d.n++; d.n > d.maxLine() {
		return 0, errLine{"Line too long"}
	}
	return d.r.ReadByte()
}

// ReadLine reads a line that is not a command (a SASL response), without
// its CRLF, within MaxLine. A longer line is skipped whole and refused
// with a *SyntaxError, so what follows it is not taken for commands.
func (d *Decoder) ReadLine() (string, error) {
	d.n = 0
	var b []byte
	for {
		c, err := d.readByte()
		var el errLine
		switch {
		case errors.As(err, &el):
			if serr := d.skipLine(); serr != nil {
				return "", serr
			}
			return "", &SyntaxError{Msg: el.msg}
		case err != nil:
			return "", err
		case c == '\n':
			return strings.TrimSuffix(string(b), "\r"), nil
		}
		b = append(b, c)
	}
}

// skipLine discards input up to and including the next LF.
func (d *Decoder) skipLine() error {
	for {
		if _, err := d.r.ReadSlice('\n'); !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}
