package imapwire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func newWriter() (*Writer, *strings.Builder) {
	var out strings.Builder
	return NewWriter(bufio.NewWriter(&out)), &out
}

// TestWritePartVerbatim: a command or response read part by part and
// written back part by part comes out as it went in, bare LFs as CRLF.
func TestWritePartVerbatim(t *testing.T) {
	tests := []struct {
		in, want string
		response bool
		maxLine  int
	}{
		{in: "A1 APPEND INBOX (\\Seen) {11}\r\nhello\r\nworld\r\nA2 NOOP\r\n"},
		{in: "A1 LOGIN {3+}\nbob {0}\nx\nA2 NOOP\n", want: "A1 LOGIN {3+}\r\nbob {0}\r\nx\r\nA2 NOOP\r\n"},
		{in: "A1 APPEND X ~{3+}\r\n\x00\x00\x00\r\n"},
		{in: "* 1 FETCH (BODY[] {5}\r\nhello UID 9)\r\n* 2 FETCH (FLAGS ())\r\nA1 OK done\r\n", response: true},
		{in: "* SEARCH" + strings.Repeat(" 4711", 50) + "\r\nA1 OK [ALERT] " + strings.Repeat("z", 100) + "\r\n", response: true, maxLine: 64},
		{in: "* 1 FETCH (X" + strings.Repeat(" 4711", 50) + " BODY[] {3}\r\nabc)\r\n", response: true, maxLine: 64},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			opts := &Options{MaxLine: tt.maxLine}
			r := NewCommandReader(sh.new(tt.in), opts)
			if tt.response {
				r = NewResponseReader(sh.new(tt.in), opts)
			}
			w, out := newWriter()
			for {
				p, err := r.Next()
				if err != nil {
					break
				}
				if err := w.WritePart(p); err != nil {
					t.Fatalf("WritePart(%q) = %v", p.Line, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if out.String() != want {
				t.Errorf("%s: WritePart of the parts of %q = %q, want %q", sh.name, tt.in, out.String(), want)
			}
		}
	}
}

func TestWriteLiteralHeader(t *testing.T) {
	tests := []struct {
		lit  Literal
		want string
	}{
		{Literal{Size: 5}, "{5+}\r\n"},
		{Literal{Size: 5, Sync: true}, "{5}\r\n"},
		{Literal{Size: 0, Binary: true}, "~{0+}\r\n"},
		{Literal{Size: 123456789012, Sync: true, Binary: true}, "~{123456789012}\r\n"},
	}
	for _, tt := range tests {
		w, out := newWriter()
		if err := w.WriteLiteralHeader(tt.lit); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if out.String() != tt.want {
			t.Errorf("WriteLiteralHeader(%+v) = %q, want %q", tt.lit, out.String(), tt.want)
		}
	}
}

// TestRewriteSyncLiteral is what the proxy does with a client's {n}: it
// answers the continuation itself and sends the backend {n+}.
func TestRewriteSyncLiteral(t *testing.T) {
	r := NewCommandReader(newBufReader("A1 SELECT {5}\r\nINBOX (CONDSTORE)\r\n"), nil)
	w, out := newWriter()
	p, err := r.Next()
	if err != nil || p.Literal == nil || !p.Literal.Sync {
		t.Fatalf("Next() = %+v, %v, want a synchronizing literal", p, err)
	}
	w.Write(p.Text())
	w.WriteLiteralHeader(Literal{Size: p.Literal.Size, Binary: p.Literal.Binary})
	if _, err := io.Copy(w, p.Literal.Body); err != nil {
		t.Fatal(err)
	}
	if p, err = r.Next(); err != nil {
		t.Fatal(err)
	}
	w.WritePart(p)
	w.Flush()
	if want := "A1 SELECT {5+}\r\nINBOX (CONDSTORE)\r\n"; out.String() != want {
		t.Errorf("rewritten command = %q, want %q", out.String(), want)
	}
}

func TestWriteArg(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"INBOX", `"INBOX"`, nil},
		{"", `""`, nil},
		{"Sent Items", `"Sent Items"`, nil},
		{`a"b\c`, `"a\"b\\c"`, nil},
		{"a{3}", `"a{3}"`, nil},
		{"Entwürfe", "{9+}\r\nEntwürfe", nil},
		{"a\r\nb", "{4+}\r\na\r\nb", nil},
		{"tab\there", "\"tab\there\"", nil},
		{strings.Repeat("x", maxQuoted), `"` + strings.Repeat("x", maxQuoted) + `"`, nil},
		{strings.Repeat("x", maxQuoted+1), "{1025+}\r\n" + strings.Repeat("x", maxQuoted+1), nil},
		{"a\x00b", "", ErrNUL},
	}
	for _, tt := range tests {
		w, out := newWriter()
		err := w.WriteArg(tt.in)
		w.Flush()
		if out.String() != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("WriteArg(%q) = %q, %v, want %q, %v", tt.in, out.String(), err, tt.want, tt.err)
		}
	}
}
