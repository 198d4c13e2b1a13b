package imapwire

import (
	"errors"
	"testing"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
		rest string
		err  error
	}{
		{"A1 NOOP", Command{Tag: "A1", Name: "NOOP"}, "", nil},
		{"a.1 select INBOX", Command{Tag: "a.1", Name: "SELECT"}, " INBOX", nil},
		{"x] LOGIN {3}", Command{Tag: "x]", Name: "LOGIN"}, " {3}", nil},
		{"A1 uid fetch 1:* (FLAGS)", Command{Tag: "A1", Name: "UID", Sub: "FETCH"}, " 1:* (FLAGS)", nil},
		{"A1 UID EXPUNGE", Command{Tag: "A1", Name: "UID", Sub: "EXPUNGE"}, "", nil},
		{"A1 Xfer user.bob be2", Command{Tag: "A1", Name: "XFER"}, " user.bob be2", nil},
		{"A1 x-ümlaut", Command{Tag: "A1", Name: "X-üMLAUT"}, "", nil},
		{"", Command{}, "", ErrSyntax},
		{" NOOP", Command{}, " NOOP", ErrSyntax},
		{"+ NOOP", Command{}, "+ NOOP", ErrSyntax},
		{"* NOOP", Command{}, "* NOOP", ErrSyntax},
		{"A+1 NOOP", Command{Tag: "A"}, "+1 NOOP", ErrSyntax},
		{"A1", Command{Tag: "A1"}, "", ErrSyntax},
		{"A1 ", Command{Tag: "A1"}, " ", ErrSyntax},
		{"A1  NOOP", Command{Tag: "A1"}, "  NOOP", ErrSyntax},
		{"A1 LOGIN\"bob\"", Command{Tag: "A1"}, " LOGIN\"bob\"", ErrSyntax},
		{"A1 UID", Command{Tag: "A1", Name: "UID"}, "", ErrSyntax},
		{"A1 UID (FETCH)", Command{Tag: "A1", Name: "UID"}, " (FETCH)", ErrSyntax},
		{"A1\tNOOP", Command{Tag: "A1"}, "\tNOOP", ErrSyntax},
	}
	for _, tt := range tests {
		got, rest, err := ParseCommand([]byte(tt.in))
		if got != tt.want || string(rest) != tt.rest || !errors.Is(err, tt.err) {
			t.Errorf("ParseCommand(%q) = %+v, %q, %v, want %+v, %q, %v", tt.in, got, rest, err, tt.want, tt.rest, tt.err)
		}
	}
}

func TestParseAString(t *testing.T) {
	tests := []struct {
		in         string
		kind       ArgKind
		raw, value string
		rest       string
		err        error
	}{
		{" INBOX", ArgAtom, "INBOX", "INBOX", "", nil},
		{" INBOX (QRESYNC (1 2))", ArgAtom, "INBOX", "INBOX", " (QRESYNC (1 2))", nil},
		{" Other\\ Users", ArgAtom, "Other", "Other", "\\ Users", nil},
		{" a]b", ArgAtom, "a]b", "a]b", "", nil},
		{" Entwürfe", ArgAtom, "Entwürfe", "Entwürfe", "", nil},
		{" &AMQ-gypten", ArgAtom, "&AMQ-gypten", "&AMQ-gypten", "", nil},
		{` "Sent Items" x`, ArgQuoted, `"Sent Items"`, "Sent Items", " x", nil},
		{` ""`, ArgQuoted, `""`, "", "", nil},
		{` "a{3}"`, ArgQuoted, `"a{3}"`, "a{3}", "", nil},
		{` "a\"b\\c"`, ArgQuoted, `"a\"b\\c"`, `a"b\c`, "", nil},
		{` "\\"`, ArgQuoted, `"\\"`, `\`, "", nil},
		{` "Entwürfe"`, ArgQuoted, `"Entwürfe"`, "Entwürfe", "", nil},
		{" \"tab\there\"", ArgQuoted, "\"tab\there\"", "tab\there", "", nil},
		{" {5}", ArgLiteral, "{5}", "", "", nil},
		{" {5+}", ArgLiteral, "{5+}", "", "", nil},
		{" {0}", ArgLiteral, "{0}", "", "", nil},
		{"", 0, "", "", "", ErrSyntax},
		{" ", 0, "", "", " ", ErrSyntax},
		{"INBOX", 0, "", "", "INBOX", ErrSyntax},
		{"  INBOX", 0, "", "", "  INBOX", ErrSyntax},
		{" (INBOX)", 0, "", "", " (INBOX)", ErrSyntax},
		{" *", 0, "", "", " *", ErrSyntax},
		{" %", 0, "", "", " %", ErrSyntax},
		{` "open`, 0, "", "", `"open`, ErrSyntax},
		{` "a\b"`, 0, "", "", `"a\b"`, ErrSyntax},
		{` "a\`, 0, "", "", `"a\`, ErrSyntax},
		{" \"a\x00b\"", 0, "", "", "\"a\x00b\"", ErrSyntax},
		{" \"a\rb\"", 0, "", "", "\"a\rb\"", ErrSyntax},
		{" {5} x", 0, "", "", "{5} x", ErrSyntax},
		{" {}", 0, "", "", "{}", ErrSyntax},
		{" {5++}", 0, "", "", "{5++}", ErrSyntax},
		{" {x}", 0, "", "", "{x}", ErrSyntax},
		{" ~{5}", 0, "", "", " ~{5}", ErrSyntax},
		{" \x01", 0, "", "", " \x01", ErrSyntax},
	}
	for _, tt := range tests {
		got, rest, err := ParseAString([]byte(tt.in))
		if got.Kind != tt.kind || string(got.Raw) != tt.raw || string(got.Value) != tt.value ||
			string(rest) != tt.rest || !errors.Is(err, tt.err) {
			t.Errorf("ParseAString(%q) = %v %q %q, %q, %v, want %v %q %q, %q, %v", tt.in,
				got.Kind, got.Raw, got.Value, rest, err, tt.kind, tt.raw, tt.value, tt.rest, tt.err)
		}
		if tt.kind == ArgQuoted && tt.value == "" && got.Value == nil {
			t.Errorf("ParseAString(%q).Value = nil, want empty", tt.in)
		}
	}
}

func TestParseListMailbox(t *testing.T) {
	tests := []struct {
		in, value, rest string
		err             error
	}{
		{` "" *`, "", " *", nil},
		{" *", "*", "", nil},
		{" user/%", "user/%", "", nil},
		{" INBOX*", "INBOX*", "", nil},
		{` "Other Users/*"`, "Other Users/*", "", nil},
		{" (x)", "", " (x)", ErrSyntax},
	}
	for _, tt := range tests {
		got, rest, err := ParseListMailbox([]byte(tt.in))
		if string(got.Value) != tt.value || string(rest) != tt.rest || !errors.Is(err, tt.err) {
			t.Errorf("ParseListMailbox(%q) = %q, %q, %v, want %q, %q, %v", tt.in, got.Value, rest, err, tt.value, tt.rest, tt.err)
		}
	}
}

// TestParseArgsAcrossParts walks a command whose mailbox names come as a
// literal and a quoted string, as the proxy's RENAME would.
func TestParseArgsAcrossParts(t *testing.T) {
	r := NewCommandReader(newBufReader("A1 RENAME {9+}\r\nEntwürfe \"Old Drafts\"\r\n"), nil)
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	cmd, rest, err := ParseCommand(p.Line)
	if err != nil || cmd.Name != "RENAME" {
		t.Fatalf("ParseCommand(%q) = %+v, %v, want RENAME", p.Line, cmd, err)
	}
	from, rest, err := ParseAString(rest)
	if err != nil || from.Kind != ArgLiteral || len(rest) != 0 {
		t.Fatalf("ParseAString = %+v, %q, %v, want a literal", from, rest, err)
	}
	name, err := r.ReadLiteral(1024)
	if err != nil || string(name) != "Entwürfe" {
		t.Fatalf("ReadLiteral(1024) = %q, %v, want %q", name, err, "Entwürfe")
	}
	if p, err = r.Next(); err != nil {
		t.Fatal(err)
	}
	to, rest, err := ParseAString(p.Line)
	if err != nil || string(to.Value) != "Old Drafts" || len(rest) != 0 || p.Literal != nil {
		t.Errorf("ParseAString(%q) = %+v, %q, %v, want \"Old Drafts\" ending the command", p.Line, to, rest, err)
	}
}
