package imapwire

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"* 1 FETCH (BODY[HEADER] {5}\r\nhead\n BODY[TEXT] {4}\r\nbody FLAGS (\\Seen))\r\n", []string{
			`"* 1 FETCH (BODY[HEADER] {5}" {5+} "head\n"`, `" BODY[TEXT] {4}" {4+} "body"`, `" FLAGS (\\Seen))"`}},
		{"* 2 FETCH (BINARY[] ~{3}\r\n\x00\x01\x02)\r\n", []string{`"* 2 FETCH (BINARY[] ~{3}" ~{3+} "\x00\x01\x02"`, `")"`}},
		{"* 3 FETCH (ENVELOPE (\"Mon\" \"Re: {5}\" NIL) BODY[] {0}\r\n)\r\n", []string{
			`"* 3 FETCH (ENVELOPE (\"Mon\" \"Re: {5}\" NIL) BODY[] {0}" {0+} ""`, `")"`}},
		{"* LIST (\\HasNoChildren) \"/\" {4}\r\na\"b\\\r\n", []string{`"* LIST (\\HasNoChildren) \"/\" {4}" {4+} "a\"b\\"`, `""`}},
		// Status responses and continuation requests carry free text.
		{"A1 NO over quota {5}\r\n", []string{`"A1 NO over quota {5}"`}},
		{"a1 ok done {5}\r\n", []string{`"a1 ok done {5}"`}},
		{"* OK [ALERT] {3}\r\n", []string{`"* OK [ALERT] {3}"`}},
		{"* BYE {3}\n", []string{`"* BYE {3}" LF`}},
		{"+ {5}\r\n", []string{`"+ {5}"`}},
		{"+\r\n", []string{`"+"`}},
		{"* 4 EXISTS\r\n", []string{`"* 4 EXISTS"`}},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			r := NewResponseReader(sh.new(tt.in), nil)
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

// TestLongResponseLine: a response line past MaxLine comes in partial
// parts that rebuild it exactly, with a header that straddles a part
// boundary held back whole for the last part.
func TestLongResponseLine(t *testing.T) {
	search := "* SEARCH" + strings.Repeat(" 12345", 100)
	fetch := "* 1 FETCH (UID 7 X " + strings.Repeat("y", 40) + " BODY[] {12345}"
	tests := []struct {
		name, in string
		header   string // the literal header of the last part
		status   string // of the response, "" for data responses
	}{
		{"search", search + "\r\n", "", ""},
		{"search LF", search + "\n", "", ""},
		{"status", "A1 OK " + strings.Repeat("x", 200) + " {5}\r\n", "", "OK"},
		{"literal", fetch + "\r\nabc\r\n", "{12345}", ""},
	}
	for _, sh := range shapes {
		for _, tt := range tests {
			want := strings.TrimRight(strings.SplitN(tt.in, "\n", 2)[0], "\r")
			for _, max := range []int{64, 65, 70, 77, 80, 100} {
				r := NewResponseReader(sh.new(tt.in), &Options{MaxLine: max})
				parts, err := readLine(r)
				if err != nil {
					t.Fatalf("%s: %s: Next() = %v", sh.name, tt.name, err)
				}
				var line strings.Builder
				for _, p := range parts {
					if len(p.Line) > max {
						t.Errorf("%s: %s: Next() = %d octets, want at most %d", sh.name, tt.name, len(p.Line), max)
					}
					line.Write(p.Line)
				}
				if line.String() != want {
					t.Errorf("%s: %s, MaxLine %d: parts = %q, want %q", sh.name, tt.name, max, line.String(), want)
				}
				last, hdr := parts[len(parts)-1], ""
				if last.Literal != nil {
					hdr = string(last.Line[len(last.Text()):])
				}
				if hdr != tt.header {
					t.Errorf("%s: %s, MaxLine %d: header of the last part = %q, want %q", sh.name, tt.name, max, hdr, tt.header)
				}
				if resp, _ := ParseResponse(parts[0].Line); resp.Status != tt.status {
					t.Errorf("%s: %s, MaxLine %d: ParseResponse(first part).Status = %q, want %q", sh.name, tt.name, max, resp.Status, tt.status)
				}
			}
		}
	}
}

// readLine reads the parts of one line, copying each Line.
func readLine(r *Reader) ([]Part, error) {
	var parts []Part
	for {
		p, err := r.Next()
		if err != nil {
			return parts, err
		}
		p.Line = append([]byte(nil), p.Line...)
		if parts = append(parts, p); !p.Partial {
			return parts, nil
		}
	}
}

func TestResponseDiscard(t *testing.T) {
	in := "* 1 FETCH (BODY[] {5}\r\nhello UID 3 BODY[1] {2}\r\nab)\r\nA1 OK done\r\n"
	for _, sh := range shapes {
		r := NewResponseReader(sh.new(in), nil)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		if err := r.Discard(); err != nil {
			t.Fatalf("%s: Discard() = %v", sh.name, err)
		}
		if p, err := r.Next(); err != nil || string(p.Line) != "A1 OK done" {
			t.Errorf("%s: Next() after Discard = %q, %v, want A1 OK done", sh.name, p.Line, err)
		}
	}
}

func TestResponseNUL(t *testing.T) {
	in := "* 1 FETCH (X a\x00b BODY[] {3}\r\nabc)\r\nA1 OK\r\n"
	r := NewResponseReader(newBufReader(in), nil)
	if _, err := r.Next(); err != ErrNUL {
		t.Errorf("Next() = %v, want %v", err, ErrNUL)
	}
	if p, err := r.Next(); err != nil || string(p.Line) != "A1 OK" {
		t.Errorf("Next() after = %q, %v, want A1 OK", p.Line, err)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		in   string
		want Response
		err  error
	}{
		{"A1 OK [READ-WRITE] SELECT completed", Response{Kind: ResponseTagged, Tag: "A1", Status: "OK", Code: "READ-WRITE", Text: "SELECT completed"}, nil},
		{"a1 no [unavailable] backend down", Response{Kind: ResponseTagged, Tag: "a1", Status: "NO", Code: "UNAVAILABLE", Text: "backend down"}, nil},
		{"A2 OK [COPYUID 38505 304,319:320 3956:3958] Done", Response{Kind: ResponseTagged, Tag: "A2", Status: "OK", Code: "COPYUID", CodeArgs: "38505 304,319:320 3956:3958", Text: "Done"}, nil},
		{"A3 BAD", Response{Kind: ResponseTagged, Tag: "A3", Status: "BAD"}, nil},
		{"A3 BAD [TOOBIG]", Response{Kind: ResponseTagged, Tag: "A3", Status: "BAD", Code: "TOOBIG"}, nil},
		{"A4 OK [no end", Response{Kind: ResponseTagged, Tag: "A4", Status: "OK", Text: "[no end"}, nil},
		{"A5 OK text [ALERT] later", Response{Kind: ResponseTagged, Tag: "A5", Status: "OK", Text: "text [ALERT] later"}, nil},
		{"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready", Response{Kind: ResponseUntagged, Status: "OK", Code: "CAPABILITY", CodeArgs: "IMAP4rev1 LITERAL+", Text: "ready"}, nil},
		{"* BYE shutting down", Response{Kind: ResponseUntagged, Status: "BYE", Text: "shutting down"}, nil},
		{"* PREAUTH", Response{Kind: ResponseUntagged, Status: "PREAUTH"}, nil},
		{"* 23 EXISTS", Response{Kind: ResponseUntagged, Name: "EXISTS"}, nil},
		{"* 1 fetch (FLAGS (\\Seen))", Response{Kind: ResponseUntagged, Name: "FETCH"}, nil},
		{"* CAPABILITY IMAP4rev1", Response{Kind: ResponseUntagged, Name: "CAPABILITY"}, nil},
		{"* VANISHED (EARLIER) 1:3", Response{Kind: ResponseUntagged, Name: "VANISHED"}, nil},
		{"+ Ready for literal", Response{Kind: ResponseContinuation, Text: "Ready for literal"}, nil},
		{"+ ", Response{Kind: ResponseContinuation}, nil},
		{"+", Response{Kind: ResponseContinuation}, nil},
		{"+YWJj", Response{Kind: ResponseContinuation, Text: "YWJj"}, nil},
		{"", Response{}, ErrSyntax},
		{"*", Response{}, ErrSyntax},
		{"* ", Response{Kind: ResponseUntagged}, ErrSyntax},
		{"* 23", Response{Kind: ResponseUntagged}, ErrSyntax},
		{"A1", Response{Kind: ResponseTagged, Tag: "A1"}, ErrSyntax},
		{"A1 FETCH", Response{Kind: ResponseTagged, Tag: "A1"}, ErrSyntax},
		{"A1 BYE", Response{Kind: ResponseTagged, Tag: "A1"}, ErrSyntax},
		{" OK", Response{}, ErrSyntax},
	}
	for _, tt := range tests {
		got, err := ParseResponse([]byte(tt.in))
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ParseResponse(%q) = %+v, %v, want %+v, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestKindStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{ResponseTagged.String(), "tagged"},
		{ResponseUntagged.String(), "untagged"},
		{ResponseContinuation.String(), "continuation"},
		{ResponseKind(0).String(), "ResponseKind(0)"},
		{ArgAtom.String(), "atom"},
		{ArgQuoted.String(), "quoted"},
		{ArgLiteral.String(), "literal"},
		{ArgKind(9).String(), "ArgKind(9)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLongResponseNUL(t *testing.T) {
	in := "* SEARCH 1\x00" + strings.Repeat(" 12345", 30) + " {3}\r\nabc\r\nA1 OK\r\n"
	r := NewResponseReader(newBufReader(in), &Options{MaxLine: 64})
	if p, err := r.Next(); err != ErrNUL || !p.Partial {
		t.Errorf("Next() = %q partial %v, %v, want a partial part and %v", p.Line, p.Partial, err, ErrNUL)
	}
	if p, err := r.Next(); err != nil || string(p.Line) != "A1 OK" {
		t.Errorf("Next() after = %q, %v, want A1 OK", p.Line, err)
	}
}
