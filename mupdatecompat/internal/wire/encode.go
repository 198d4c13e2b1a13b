package wire

import (
	"bufio"
	"strconv"
	"strings"
)

// AppendString appends s as a response datum: a quoted string when it can
// be one, else a synchronising-form literal {N} that Cyrus clients of
// every version accept without waiting (see mupdate-protocol.md §3.3).
func AppendString(b []byte, s string) []byte {
	if strings.ContainsAny(s, "\r\n\x00") {
		b = append(b, '{')
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, "}\r\n"...)
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// Writer writes responses. It is not safe for concurrent use.
type Writer struct {
	w   *bufio.Writer
	buf []byte
	err error // the first write error
}

// Err returns the first error a write met.
func (w *Writer) Err() error { return w.err }

// NewWriter returns a writer over w.
func NewWriter(w *bufio.Writer) *Writer { return &Writer{w: w} }

// Line writes `tag word datum...` CRLF, each datum as a string. A write
// error is kept for Err.
func (w *Writer) Line(tag, word string, data ...string) {
	b := append(w.buf[:0], tag...)
	b = append(b, ' ')
	b = append(b, word...)
	for _, d := range data {
		b = append(b, ' ')
		b = AppendString(b, d)
	}
	b = append(b, "\r\n"...)
	w.buf = b
	_, err := w.w.Write(b)
	w.keep(err)
}

// Raw writes a line as it is, with CRLF (capability lines, SASL
// challenges, the literal continuation). A write error is kept for Err.
func (w *Writer) Raw(line string) {
	_, err := w.w.WriteString(line + "\r\n")
	w.keep(err)
}

func (w *Writer) keep(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}
