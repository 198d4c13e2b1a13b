package imapwire

import (
	"bufio"
	"io"
	"strconv"
)

// maxQuoted is the longest string WriteArg quotes; a longer one goes as a
// literal, which keeps the proxy's own command lines short whatever the
// backend's line limit.
const maxQuoted = 1024

// Writer writes commands and responses: parts as read, the proxy's own
// lines through the embedded bufio.Writer, and arguments encoded so a
// backend reads back exactly the octets given. Nothing is sent until
// Flush.
type Writer struct {
	*bufio.Writer
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w *bufio.Writer) *Writer { return &Writer{Writer: w} }

// WritePart forwards p as it was read: its Line, a CRLF (also for a
// segment that ended in a bare LF, since RFC 9051 requires CRLF on the
// wire) and then, if p has a Literal, its octets streamed from the
// Reader. Since it reads those octets, a client's synchronizing literal
// must have had its continuation request first; a proxy that answers the
// continuation itself writes p.Text and WriteLiteralHeader instead, so the
// backend gets {n+} and sends no continuation of its own.
func (w *Writer) WritePart(p Part) error {
	if _, err := w.Write(p.Line); err != nil || p.Partial {
		return err
	}
	if _, err := w.WriteString("\r\n"); err != nil || p.Literal == nil {
		return err
	}
	_, err := io.Copy(w.Writer, p.Literal.Body)
	return err
}

// WriteLiteralHeader writes the header of l, ~{n} for a binary literal
// and {n+} unless l.Sync, and the CRLF that ends its line. The caller
// writes the l.Size octets next. Non-synchronizing literals need LITERAL+
// on the other side (or LITERAL- up to 4096 octets, RFC 7888).
func (w *Writer) WriteLiteralHeader(l Literal) error {
	b := w.AvailableBuffer()
	if l.Binary {
		b = append(b, '~')
	}
	b = append(b, '{')
	b = strconv.AppendInt(b, l.Size, 10)
	if !l.Sync {
		b = append(b, '+')
	}
	b = append(b, "}\r\n"...)
	_, err := w.Write(b)
	return err
}

// WriteArg writes s as an IMAP string for the proxy's own commands: a
// quoted string when s is short and every octet may appear in one, else a
// non-synchronizing literal, so the backend reads back exactly s. No
// string may hold NUL (RFC 9051 CHAR8); WriteArg writes nothing and
// returns ErrNUL for one that does.
func (w *Writer) WriteArg(s string) error {
	switch quotability(s) {
	case quoteOK:
		return w.writeQuoted(s)
	case quoteNUL:
		return ErrNUL
	}
	if err := w.WriteLiteralHeader(Literal{Size: int64(len(s))}); err != nil {
		return err
	}
	_, err := w.WriteString(s)
	return err
}

func (w *Writer) writeQuoted(s string) error {
	b := w.AvailableBuffer()
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	b = append(b, '"')
	_, err := w.Write(b)
	return err
}

type quoting uint8

const (
	quoteOK      quoting = iota // as a quoted string
	quoteLiteral                // as a literal
	quoteNUL                    // not at all
)

// quotability tells how s may be sent: quoted if it is short and all
// TEXT-CHAR (7-bit, no CR or LF: 8-bit needs UTF8=ACCEPT, which the proxy
// cannot assume of a backend), as a literal if it holds no NUL.
func quotability(s string) quoting {
	q := quoteOK
	if len(s) > maxQuoted {
		q = quoteLiteral
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			return quoteNUL
		case c == '\r' || c == '\n' || c > 0x7f:
			q = quoteLiteral
		}
	}
	return q
}
