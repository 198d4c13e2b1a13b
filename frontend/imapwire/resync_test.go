package imapwire

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLineLimit(t *testing.T) {
	opts := &Options{MaxLine: 64}
	at := "A1 SELECT " + strings.Repeat("x", 64-len("A1 SELECT "))
	over := at + "y"
	tests := []struct {
		name, in string
		want     error
		line     string // what the failing part shows
	}{
		{"at", at + "\r\n", nil, at},
		{"at LF", at + "\n", nil, at},
		{"over", over + "\r\n", ErrLineTooLong, at},
		{"over LF", over + "\n", ErrLineTooLong, at},
		{"far over", over + strings.Repeat("z", 1000) + "\r\n", ErrLineTooLong, at},
		{"far over, non-sync literal", over + strings.Repeat("z", 1000) + " {6+}\r\na\r\nb\r\n\r\n", ErrLineTooLong, at},
		{"far over, non-sync literals", over + strings.Repeat("z", 1000) + " {1+}\r\nx" + strings.Repeat("z", 100) + "{0+}\r\n\r\n", ErrLineTooLong, at},
		// The client waits for a continuation it will not get: nothing follows.
		{"far over, sync literal", over + strings.Repeat("z", 1000) + " {5}\r\n", ErrLineTooLong, at},
		{"over, quoted braces", over + "\"{5+}\r\n", ErrLineTooLong, at},
		{"after literal", "A1 LOGIN {1+}\r\nx " + over + "\r\n", ErrLineTooLong, " " + over[:63]},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewCommandReader(sh.new(tt.in+"A9 NOOP\r\n"), opts)
			var p Part
			var err error
			for {
				if p, err = r.Next(); err != nil || p.Literal == nil {
					break
				}
			}
			if !errors.Is(err, tt.want) || string(p.Line) != tt.line {
				t.Errorf("%s: %s: Next() = %q, %v, want %q, %v", sh.name, tt.name, p.Line, err, tt.line, tt.want)
				continue
			}
			if p, err := r.Next(); err != nil || string(p.Line) != "A9 NOOP" {
				t.Errorf("%s: %s: Next() after = %q, %v, want A9 NOOP", sh.name, tt.name, p.Line, err)
			}
		}
	}
}

func TestProtocolErrorsResynchronise(t *testing.T) {
	opts := &Options{MaxLiteral: 10}
	tests := []struct {
		name, in string
		want     error
		line     string
		lit      string // header of the Literal returned with the error
	}{
		{"NUL", "A1 LOGIN a\x00b c\r\n", ErrNUL, "A1 LOGIN a\x00b c", ""},
		{"NUL before non-sync literal", "A1 LOGIN a\x00b {3+}\r\nabc\r\n", ErrNUL, "A1 LOGIN a\x00b {3+}", "{3+}"},
		{"NUL before sync literal", "A1 LOGIN a\x00b {3}\r\n", ErrNUL, "A1 LOGIN a\x00b {3}", "{3}"},
		{"NUL after literal", "A1 LOGIN {1+}\r\na \x00\r\n", ErrNUL, " \x00", ""},
		{"sync too large", "A1 APPEND INBOX {11}\r\n", ErrLiteralTooLarge, "A1 APPEND INBOX {11}", "{11}"},
		{"binary sync too large", "A1 APPEND INBOX ~{11}\r\n", ErrLiteralTooLarge, "A1 APPEND INBOX ~{11}", "~{11}"},
		{"non-sync too large", "A1 APPEND INBOX {11+}\r\n01234567890 {3+}\r\nabc\r\n", ErrLiteralTooLarge, "A1 APPEND INBOX {11+}", "{11+}"},
		{"non-sync too large, then sync", "A1 APPEND INBOX {11+}\r\n01234567890 {3}\r\n", ErrLiteralTooLarge, "A1 APPEND INBOX {11+}", "{11+}"},
		{"size overflows", "A1 APPEND INBOX {99999999999999999999}\r\n", ErrLiteralTooLarge, "A1 APPEND INBOX {99999999999999999999}", "{9223372036854775807}"},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewCommandReader(sh.new(tt.in+"A9 NOOP\r\n"), opts)
			var p Part
			var err error
			for {
				if p, err = r.Next(); err != nil || p.Literal == nil {
					break
				}
			}
			lit := ""
			if p.Literal != nil {
				lit = render(p.Literal)
			}
			if !errors.Is(err, tt.want) || string(p.Line) != tt.line || lit != tt.lit {
				t.Errorf("%s: %s: Next() = %q %s, %v, want %q %s, %v", sh.name, tt.name, p.Line, lit, err, tt.line, tt.lit, tt.want)
				continue
			}
			if p, err := r.Next(); err != nil || string(p.Line) != "A9 NOOP" {
				t.Errorf("%s: %s: Next() after = %q, %v, want A9 NOOP", sh.name, tt.name, p.Line, err)
			}
		}
	}
}

// TestDiscard: a refused synchronizing literal is never read; one whose
// body the caller started is read to its end, with the rest of the line.
func TestDiscard(t *testing.T) {
	tests := []struct {
		name, in string
		read     int // octets of the first literal read before Discard
	}{
		{"refused sync", "A1 SELECT {5}\r\n", -1},
		{"accepted sync", "A1 SELECT {5}\r\nINBOX (x) {2+}\r\nab\r\n", 5},
		{"half-read sync", "A1 SELECT {5}\r\nINBOX (x) {2+}\r\nab\r\n", 2},
		{"non-sync", "A1 SELECT {5+}\r\nINBOX (x)\r\n", -1},
		{"non-sync, then sync", "A1 SELECT {5+}\r\nINBOX {3}\r\n", -1},
		{"no literal", "A1 NOOP\r\n", -1},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewCommandReader(sh.new(tt.in+"A9 NOOP\r\n"), nil)
			p, err := r.Next()
			if err != nil {
				t.Fatalf("%s: %s: Next() = %v", sh.name, tt.name, err)
			}
			if tt.read >= 0 {
				if _, err := io.ReadFull(p.Literal.Body, make([]byte, tt.read)); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.Discard(); err != nil {
				t.Errorf("%s: %s: Discard() = %v", sh.name, tt.name, err)
			}
			if err := r.Discard(); err != nil {
				t.Errorf("%s: %s: second Discard() = %v", sh.name, tt.name, err)
			}
			if p, err := r.Next(); err != nil || string(p.Line) != "A9 NOOP" {
				t.Errorf("%s: %s: Next() after Discard = %q, %v, want A9 NOOP", sh.name, tt.name, p.Line, err)
			}
		}
	}
}
