package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// Limits small enough for the fuzzer to reach.
var fuzzOpts = Options{MaxLine: 64, MaxLiteral: 1 << 12}

// FuzzReadCommand checks that a client's input, however malformed, is
// framed consistently (the parts put back together are the input), that
// every part keeps its invariants, and that a proxy-like caller always
// makes progress and never panics.
func FuzzReadCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		checkFraming(t, in, false)
		actLikeProxy(t, in)
	})
}

// FuzzReadResponse is FuzzReadCommand for a backend's output.
func FuzzReadResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		parts := checkFraming(t, in, true)
		// Long lines in partial parts are framed as whole ones are.
		short, long := segments(in, 64), segments(in, 1<<20)
		if strings.Join(short, "\n") != strings.Join(long, "\n") {
			t.Fatalf("MaxLine 64 frames %q as %q, MaxLine 1 MiB as %q", in, short, long)
		}
		for _, line := range parts {
			resp, err := ParseResponse(line)
			if err == nil && resp.Kind == ResponseTagged && (resp.Tag == "" || resp.Status == "") {
				t.Errorf("ParseResponse(%q) = %+v, want a tag and a status", line, resp)
			}
		}
	})
}

// segments returns each segment a response reader completes in in, its
// partial parts joined, with its literal's header and octets.
func segments(in []byte, maxLine int) []string {
	r := NewResponseReader(bufio.NewReaderSize(bytes.NewReader(in), 16), &Options{MaxLine: maxLine})
	var out []string
	var line []byte
	for {
		p, err := r.Next()
		if err != nil {
			return out
		}
		if line = append(line, p.Line...); p.Partial {
			continue
		}
		s := string(line)
		if l := p.Literal; l != nil {
			b, _ := io.ReadAll(l.Body)
			s += fmt.Sprintf(" | %d %v %q", l.Size, l.Binary, b)
		}
		out, line = append(out, s), line[:0]
	}
}

// FuzzParseAString checks the argument parser's invariants and that
// whatever value it decodes survives WriteArg and a parse back.
func FuzzParseAString(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		ParseListMailbox(in)
		arg, rest, err := ParseAString(in)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseAString(%q) = %v, want %v", in, err, ErrSyntax)
			}
			return
		}
		checkArg(t, in, arg, rest)
		if arg.Kind != ArgLiteral && bytes.IndexByte(arg.Value, 0) < 0 {
			if got := roundTrip(t, string(arg.Value)); got != string(arg.Value) {
				t.Errorf("WriteArg(%q) read back as %q", arg.Value, got)
			}
		}
	})
}

// checkFraming reads in to its end or first error, checks each part and
// that the parts rebuild in, and returns the Line of each first part.
func checkFraming(t *testing.T, in []byte, response bool) [][]byte {
	br := bufio.NewReaderSize(bytes.NewReader(in), 16)
	r := NewCommandReader(br, &fuzzOpts)
	if response {
		r = NewResponseReader(br, &fuzzOpts)
	}
	var out []byte
	var firsts [][]byte
	start := true
	for range 2*len(in) + 2 {
		p, err := r.Next()
		if err != nil {
			if err == io.EOF && !bytes.Equal(out, in) {
				t.Fatalf("parts rebuild %q, want %q", out, in)
			}
			if !bytes.HasPrefix(in, out) {
				t.Fatalf("parts rebuild %q, not a prefix of %q", out, in)
			}
			return firsts
		}
		checkPart(t, p, response)
		if start {
			firsts = append(firsts, bytes.Clone(p.Line))
		}
		out = append(out, p.Line...)
		switch {
		case p.Partial:
		case p.CRLF:
			out = append(out, "\r\n"...)
		default:
			out = append(out, '\n')
		}
		if p.Literal != nil {
			b, _ := io.ReadAll(p.Literal.Body)
			out = append(out, b...)
		}
		start = p.Literal == nil && !p.Partial
	}
	t.Fatalf("no end after %d parts of %q", 2*len(in)+2, in)
	return nil
}

func checkPart(t *testing.T, p Part, response bool) {
	t.Helper()
	if bytes.IndexByte(p.Line, '\n') >= 0 || bytes.IndexByte(p.Line, 0) >= 0 {
		t.Fatalf("Next() = %q, with LF or NUL", p.Line)
	}
	if len(p.Line) > fuzzOpts.MaxLine || p.Partial && !response {
		t.Fatalf("Next() = %q, partial %v, longer than %d", p.Line, p.Partial, fuzzOpts.MaxLine)
	}
	if p.Literal == nil {
		return
	}
	l := p.Literal
	hdr := p.Line[len(p.Text()):]
	h := bytes.TrimPrefix(hdr, []byte("~"))
	plus := bytes.HasSuffix(h, []byte("+}"))
	digits := bytes.TrimSuffix(bytes.TrimSuffix(bytes.TrimPrefix(h, []byte("{")), []byte("}")), []byte("+"))
	size, err := strconv.ParseInt(string(digits), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		size, err = math.MaxInt64, nil
	}
	if err != nil || !isNumber(digits) || len(hdr) != l.hdrLen || !bytes.HasPrefix(h, []byte("{")) ||
		size != l.Size || l.Binary != (len(h) < len(hdr)) || l.Sync != (!plus && !response) {
		t.Fatalf("header %q, Literal %+v", hdr, *l)
	}
}

// actLikeProxy reads in as the proxy would: it parses each command's tag,
// name and arguments, reads literal arguments whole, refuses or skips
// others, and reads on after every protocol error.
func actLikeProxy(t *testing.T, in []byte) {
	r := NewCommandReader(bufio.NewReaderSize(bytes.NewReader(in), 16), &fuzzOpts)
	start := true
	for i := range 2*len(in) + 2 {
		p, err := r.Next()
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return
		case err != nil:
			if !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrNUL) && !errors.Is(err, ErrLiteralTooLarge) {
				t.Fatalf("Next() = %v, want a protocol error", err)
			}
			start = true
			continue
		}
		rest := p.Line
		if start {
			var cmd Command
			if cmd, rest, err = ParseCommand(p.Line); err != nil {
				rest = nil
			} else {
				checkCommand(t, p.Line, cmd, rest)
			}
		}
		for len(rest) > 0 {
			var arg Arg
			b := rest
			if arg, rest, err = ParseAString(rest); err != nil {
				break
			}
			checkArg(t, b, arg, rest)
		}
		start = p.Literal == nil
		if p.Literal == nil {
			continue
		}
		switch i % 3 {
		case 0:
			if _, err := r.ReadLiteral(100); err != nil {
				start = true
			}
		case 1:
			if err := r.Discard(); err != nil {
				return
			}
			start = true
		}
	}
	t.Fatalf("no end after %d parts of %q", 2*len(in)+2, in)
}

// checkCommand checks what ParseCommand made of line.
func checkCommand(t *testing.T, line []byte, cmd Command, rest []byte) {
	t.Helper()
	if cmd.Tag == "" || cmd.Name == "" || !bytes.HasPrefix(line, []byte(cmd.Tag+" ")) ||
		!bytes.HasSuffix(line, rest) || len(rest) > 0 && rest[0] != ' ' ||
		strings.ContainsAny(cmd.Name+cmd.Sub, "abcdefghijklmnopqrstuvwxyz") || (cmd.Name == "UID") != (cmd.Sub != "") {
		t.Fatalf("ParseCommand(%q) = %+v, %q", line, cmd, rest)
	}
}

// checkArg checks that arg and rest, parsed from b, are b split up.
func checkArg(t *testing.T, b []byte, arg Arg, rest []byte) {
	t.Helper()
	if len(b) != 1+len(arg.Raw)+len(rest) || !bytes.Equal(b[1:1+len(arg.Raw)], arg.Raw) || !bytes.HasSuffix(b, rest) {
		t.Fatalf("ParseAString(%q) = %q, %q: not the input split", b, arg.Raw, rest)
	}
	switch arg.Kind {
	case ArgAtom:
		if !bytes.Equal(arg.Raw, arg.Value) {
			t.Fatalf("ParseAString(%q) = atom %q, value %q", b, arg.Raw, arg.Value)
		}
	case ArgQuoted:
		// Only \" and \\ are escapes, so quoting is canonical.
		w, out := newWriter()
		w.writeQuoted(string(arg.Value))
		w.Flush()
		if out.String() != string(arg.Raw) || arg.Value == nil {
			t.Fatalf("ParseAString(%q) = %q, value %q, which quotes as %q", b, arg.Raw, arg.Value, out.String())
		}
	case ArgLiteral:
		if len(rest) != 0 || arg.Value != nil {
			t.Fatalf("ParseAString(%q) = literal %q, rest %q", b, arg.Raw, rest)
		}
	default:
		t.Fatalf("ParseAString(%q) = kind %v", b, arg.Kind)
	}
}

// roundTrip sends s in a command through WriteArg and parses it back.
func roundTrip(t *testing.T, s string) string {
	w, out := newWriter()
	w.WriteString("A1 SELECT ")
	if err := w.WriteArg(s); err != nil {
		t.Fatalf("WriteArg(%q) = %v", s, err)
	}
	w.WriteString("\r\n")
	w.Flush()
	r := NewCommandReader(newBufReader(out.String()), nil)
	p, err := r.Next()
	if err != nil {
		t.Fatalf("Next() on %q = %v", out.String(), err)
	}
	_, rest, err := ParseCommand(p.Line)
	if err != nil {
		t.Fatal(err)
	}
	arg, _, err := ParseAString(rest)
	if err != nil {
		t.Fatalf("ParseAString(%q) = %v", rest, err)
	}
	if arg.Kind != ArgLiteral {
		return string(arg.Value)
	}
	v, err := r.ReadLiteral(1 << 20)
	if err != nil {
		t.Fatalf("ReadLiteral = %v", err)
	}
	return string(v)
}
