package imapwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// shapes are the ways a test feeds its input: all at once, and one octet
// per read into the smallest bufio.Reader, which splits every line and
// literal across reads and buffer refills.
var shapes = []struct {
	name string
	new  func(string) *bufio.Reader
}{
	{"whole", func(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }},
	{"bytewise", func(s string) *bufio.Reader {
		return bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(s)), 16)
	}},
}

func newBufReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }

// readOne reads one command or response and renders each part as
// `"line"`, then ` LF` for a bare LF, ` ...` for a partial part, and the
// literal as ` {n}`, ` {n+}`, ` ~{n}` or ` ~{n+}` with its octets quoted.
func readOne(r *Reader) ([]string, error) {
	var out []string
	for {
		p, err := r.Next()
		if err != nil {
			return out, err
		}
		s := fmt.Sprintf("%q", p.Line)
		switch {
		case p.Partial:
			s += " ..."
		case !p.CRLF:
			s += " LF"
		}
		if p.Literal != nil {
			b, err := io.ReadAll(p.Literal.Body)
			if err != nil {
				return out, err
			}
			s += fmt.Sprintf(" %s %q", render(p.Literal), b)
		}
		out = append(out, s)
		if p.Literal == nil && !p.Partial {
			return out, nil
		}
	}
}

func render(l *Literal) string {
	s := fmt.Sprint(l.Size)
	if !l.Sync {
		s += "+"
	}
	s = "{" + s + "}"
	if l.Binary {
		s = "~" + s
	}
	return s
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"A1 NOOP\r\n", []string{`"A1 NOOP"`}},
		{"A1 NOOP\n", []string{`"A1 NOOP" LF`}},
		{"a1 login {3}\r\nbob {6+}\r\nsecret\r\n", []string{
			`"a1 login {3}" {3} "bob"`, `" {6+}" {6+} "secret"`, `""`}},
		{"A1 LOGIN {3}\nbob {0}\n\n", []string{`"A1 LOGIN {3}" LF {3} "bob"`, `" {0}" LF {0} ""`, `"" LF`}},
		{"A1 LOGIN {0+}\r\n {0}\r\n\r\n", []string{`"A1 LOGIN {0+}" {0+} ""`, `" {0}" {0} ""`, `""`}},
		{"A1 APPEND INBOX ~{5+}\r\na\x00b\x00c\r\n", []string{`"A1 APPEND INBOX ~{5+}" ~{5+} "a\x00b\x00c"`, `""`}},
		{"A1 APPEND INBOX ~{3}\r\n\x00\r\n\r\n", []string{`"A1 APPEND INBOX ~{3}" ~{3} "\x00\r\n"`, `""`}},
		{"A1 APPEND INBOX (\\Seen) {12}\r\nline\r\n{3}\r\nx)\r\n", []string{
			`"A1 APPEND INBOX (\\Seen) {12}" {12} "line\r\n{3}\r\nx"`, `")"`}},
		// MULTIAPPEND: literal, line, literal.
		{"A1 APPEND X {1+}\r\na {1+}\r\nb\r\n", []string{`"A1 APPEND X {1+}" {1+} "a"`, `" {1+}" {1+} "b"`, `""`}},
		// Braces inside a quoted string are text.
		{"A1 SELECT \"a{3}\"\r\n", []string{`"A1 SELECT \"a{3}\""`}},
		{"A1 SELECT \"a {3}\r\n", []string{`"A1 SELECT \"a {3}"`}},
		{"A1 LOGIN \"a\\\" {3}\r\n", []string{`"A1 LOGIN \"a\\\" {3}"`}},
		{"A1 LOGIN \"a\\\\\" {3}\r\nabc\r\n", []string{`"A1 LOGIN \"a\\\\\" {3}" {3} "abc"`, `""`}},
		{"A1 LOGIN \"{3}\" {3}\r\nabc\r\n", []string{`"A1 LOGIN \"{3}\" {3}" {3} "abc"`, `""`}},
		// A literal's octets are not scanned: a quote there opens nothing.
		{"A1 X {1}\r\n\" {2}\r\nab\r\n", []string{`"A1 X {1}" {1} "\""`, `" {2}" {2} "ab"`, `""`}},
		// A header counts only at the end of the line, and only well formed.
		{"A1 X {3} y\r\n", []string{`"A1 X {3} y"`}},
		{"A1 X {}\r\n", []string{`"A1 X {}"`}},
		{"A1 X {+}\r\n", []string{`"A1 X {+}"`}},
		{"A1 X {3++}\r\n", []string{`"A1 X {3++}"`}},
		{"A1 X {-3}\r\n", []string{`"A1 X {-3}"`}},
		{"A1 X { 3}\r\n", []string{`"A1 X { 3}"`}},
		{"A1 X {3}\r\r\n", []string{`"A1 X {3}\r"`}},
		{"A1 X {3}x\r\n", []string{`"A1 X {3}x"`}},
		{"A1 X ~ {3}\r\nabc\r\n", []string{`"A1 X ~ {3}" {3} "abc"`, `""`}},
		{"A1 X ~~{3}\r\nabc\r\n", []string{`"A1 X ~~{3}" ~{3} "abc"`, `""`}},
		{"A1 X foo{003}\r\nabc\r\n", []string{`"A1 X foo{003}" {3} "abc"`, `""`}},
		// A CR that does not end the line is part of it.
		{"A1 X \ry\r\n", []string{`"A1 X \ry"`}},
		{"A1 X {2}\r\r\n", []string{`"A1 X {2}\r"`}},
		{"A1 X {2}\n\r\n\r\n", []string{`"A1 X {2}" LF {2} "\r\n"`, `""`}},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewCommandReader(sh.new(tt.in), nil)
			got, err := readOne(r)
			if err != nil || strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("%s: readOne(%q) = %v, %v, want %v", sh.name, tt.in, got, err, tt.want)
				continue
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("%s: Next after %q = %v, want EOF", sh.name, tt.in, err)
			}
		}
	}
}

// TestPipelined: commands read back to back, whatever the caller did with
// the literals, leave the stream where the next command starts.
func TestPipelined(t *testing.T) {
	in := "A1 LOGIN {3+}\r\nbob {6+}\r\nsecret\r\nA2 SELECT {5+}\r\nINBOX\r\nA3 NOOP\r\n"
	for _, sh := range shapes {
		r := NewCommandReader(sh.new(in), nil)
		// Leave A1's literals unread, read half of A2's.
		for range 3 {
			if _, err := r.Next(); err != nil {
				t.Fatalf("%s: Next() = %v", sh.name, err)
			}
		}
		p, err := r.Next()
		if err != nil || p.Literal == nil {
			t.Fatalf("%s: Next() = %+v, %v, want A2's literal", sh.name, p, err)
		}
		if _, err := io.ReadFull(p.Literal.Body, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"", "A3 NOOP"} {
			if p, err := r.Next(); err != nil || string(p.Line) != want {
				t.Errorf("%s: Next() = %q, %v, want %q", sh.name, p.Line, err, want)
			}
		}
	}
}

func TestReadLiteral(t *testing.T) {
	tests := []struct {
		name, in string
		max      int64
		want     string
		err      error
	}{
		{"name", "A1 SELECT {9+}\r\nEntwürfe\r\n", 100, "Entwürfe", nil},
		{"empty", "A1 SELECT {0}\r\n\r\n", 100, "", nil},
		{"at max", "A1 SELECT {5}\r\nINBOX\r\n", 5, "INBOX", nil},
		{"over max", "A1 SELECT {6}\r\n", 5, "", ErrLiteralTooLarge},
		{"over max, non-sync", "A1 SELECT {6+}\r\nINBOX2\r\n", 5, "", ErrLiteralTooLarge},
		{"NUL", "A1 SELECT {3+}\r\na\x00b\r\n", 5, "", ErrNUL},
		{"binary NUL", "A1 X ~{3+}\r\na\x00b\r\n", 5, "a\x00b", nil},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewCommandReader(sh.new(tt.in+"A9 NOOP\r\n"), nil)
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
			got, err := r.ReadLiteral(tt.max)
			if string(got) != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("%s: %s: ReadLiteral(%d) = %q, %v, want %q, %v", sh.name, tt.name, tt.max, got, err, tt.want, tt.err)
			}
			if tt.err == nil {
				if p, err := r.Next(); err != nil || len(p.Line) != 0 {
					t.Errorf("%s: %s: Next() = %q, %v, want the end of the command", sh.name, tt.name, p.Line, err)
				}
			}
			if p, err := r.Next(); err != nil || string(p.Line) != "A9 NOOP" {
				t.Errorf("%s: %s: Next() = %q, %v, want A9 NOOP", sh.name, tt.name, p.Line, err)
			}
		}
	}
}

func TestReadLiteralWithoutLiteral(t *testing.T) {
	r := NewCommandReader(bufio.NewReader(strings.NewReader("A1 NOOP\r\n")), nil)
	if _, err := r.ReadLiteral(10); err != ErrNoLiteral {
		t.Errorf("ReadLiteral(10) before Next = %v, want %v", err, ErrNoLiteral)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadLiteral(10); err != ErrNoLiteral {
		t.Errorf("ReadLiteral(10) after a line = %v, want %v", err, ErrNoLiteral)
	}
}

func TestEOF(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", io.EOF},
		{"A1 NOOP\r\n", io.EOF},
		{"A1 NOO", io.ErrUnexpectedEOF},
		{"A1 NOOP\r", io.ErrUnexpectedEOF},
		{"A1 LOGIN {5+}\r\nab", io.ErrUnexpectedEOF},
		{"A1 LOGIN {5+}\r\nabcde", io.ErrUnexpectedEOF},
		{"A1 LOGIN {5+}\r\nabcde {1+}", io.ErrUnexpectedEOF},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewCommandReader(sh.new(tt.in), nil)
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if err != tt.want {
				t.Errorf("%s: Next() on %q = %v, want %v", sh.name, tt.in, err, tt.want)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("%s: Next() again on %q = %v, want %v (sticky)", sh.name, tt.in, again, err)
			}
			if again := r.Discard(); again != err {
				t.Errorf("%s: Discard() on %q = %v, want %v (sticky)", sh.name, tt.in, again, err)
			}
		}
	}
}

func TestLiteralBodyUnexpectedEOF(t *testing.T) {
	r := NewCommandReader(bufio.NewReader(strings.NewReader("A1 APPEND X {1000000000000+}\r\nabc")), &Options{MaxLiteral: -1})
	p, err := r.Next()
	if err != nil || p.Literal == nil || p.Literal.Size != 1e12 {
		t.Fatalf("Next() = %+v, %v, want a literal of 1e12 octets", p, err)
	}
	n, err := io.Copy(io.Discard, p.Literal.Body)
	if n != 3 || err != io.ErrUnexpectedEOF {
		t.Errorf("io.Copy(body) = %d, %v, want 3, %v", n, err, io.ErrUnexpectedEOF)
	}
}

// TestHugeLiteralNotAllocated: announcing a huge literal costs what a
// small one costs; the size is never allocated.
func TestHugeLiteralNotAllocated(t *testing.T) {
	allocs := func(size string) float64 {
		in := "A1 APPEND X {" + size + "+}\r\n"
		return testing.AllocsPerRun(20, func() {
			r := NewCommandReader(bufio.NewReader(strings.NewReader(in)), &Options{MaxLiteral: -1})
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if small, huge := allocs("1"), allocs("9000000000000000000"); huge > small {
		t.Errorf("Next() on a huge literal: %v allocations, want %v like a small one", huge, small)
	}
}

func TestOptionsDefaults(t *testing.T) {
	br := bufio.NewReader(strings.NewReader(""))
	tests := []struct {
		name       string
		r          *Reader
		line       int
		maxLiteral int64
	}{
		{"command nil", NewCommandReader(br, nil), DefaultMaxLine, DefaultMaxLiteral},
		{"response nil", NewResponseReader(br, nil), DefaultMaxLine, -1},
		{"small line", NewCommandReader(br, &Options{MaxLine: 10}), minLine, DefaultMaxLiteral},
		{"negative", NewCommandReader(br, &Options{MaxLine: -1, MaxLiteral: -1}), DefaultMaxLine, -1},
		{"set", NewResponseReader(br, &Options{MaxLine: 1000, MaxLiteral: 5}), 1000, 5},
	}
	for _, tt := range tests {
		if tt.r.maxLine != tt.line || tt.r.maxLiteral != tt.maxLiteral {
			t.Errorf("%s: limits = %d, %d, want %d, %d", tt.name, tt.r.maxLine, tt.r.maxLiteral, tt.line, tt.maxLiteral)
		}
	}
}

func TestPartText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A1 SELECT {5}\r\nINBOX\r\n", "A1 SELECT "},
		{"A1 APPEND X ~{5+}\r\nINBOX\r\n", "A1 APPEND X "},
		{"A1 NOOP\r\n", "A1 NOOP"},
	}
	for _, tt := range tests {
		p, err := NewCommandReader(bufio.NewReader(strings.NewReader(tt.in)), nil).Next()
		if err != nil || string(p.Text()) != tt.want {
			t.Errorf("Next(%q).Text() = %q, %v, want %q", tt.in, p.Text(), err, tt.want)
		}
	}
}

// TestUnderlyingErrorSticky: once the connection fails, every call says
// so, whichever the caller makes next.
func TestUnderlyingErrorSticky(t *testing.T) {
	boom := errors.New("connection reset")
	in := io.MultiReader(strings.NewReader("A1 APPEND X {10+}\r\nabc"), iotest.ErrReader(boom))
	r := NewCommandReader(bufio.NewReaderSize(in, 16), nil)
	p, err := r.Next()
	if err != nil || p.Literal == nil {
		t.Fatalf("Next() = %+v, %v, want a literal", p, err)
	}
	if b, err := io.ReadAll(p.Literal.Body); string(b) != "abc" || err != boom {
		t.Errorf("io.ReadAll(body) = %q, %v, want %q, %v", b, err, "abc", boom)
	}
	if _, err := r.Next(); err != boom {
		t.Errorf("Next() = %v, want %v", err, boom)
	}
	if err := r.Discard(); err != boom {
		t.Errorf("Discard() = %v, want %v", err, boom)
	}
	if _, err := r.ReadLiteral(10); err != boom {
		t.Errorf("ReadLiteral(10) = %v, want %v", err, boom)
	}
	if _, err := p.Literal.Body.Read(make([]byte, 1)); err != boom {
		t.Errorf("body.Read = %v, want %v", err, boom)
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if n := min(len(p), w.after); n < len(p) {
		w.after -= n
		return n, errors.New("backend gone")
	}
	w.after -= len(p)
	return len(p), nil
}

// TestCopyToFailingWriter: a destination that fails mid-literal leaves
// the Reader usable; the rest of the literal is skipped by Next.
func TestCopyToFailingWriter(t *testing.T) {
	r := NewCommandReader(newBufReader("A1 APPEND X {10+}\r\n0123456789\r\nA2 NOOP\r\n"), nil)
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(&failingWriter{after: 4}, p.Literal.Body); n != 4 || err == nil {
		t.Errorf("io.Copy(failing, body) = %d, %v, want 4 and an error", n, err)
	}
	for _, want := range []string{"", "A2 NOOP"} {
		if p, err := r.Next(); err != nil || string(p.Line) != want {
			t.Errorf("Next() = %q, %v, want %q", p.Line, err, want)
		}
	}
}
