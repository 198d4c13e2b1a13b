package wire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func decoder(in string) (*Decoder, *strings.Builder) {
	var cont strings.Builder
	d := NewDecoder(bufio.NewReaderSize(strings.NewReader(in), 64))
	d.GoAhead = func() error { cont.WriteString("+ go ahead\r\n"); return nil }
	return d, &cont
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
	}{
		{"A01 AUTHENTICATE \"PLAIN\" {16+}\r\nAGJvYgBzZWNyZXQ=\r\n", Command{"A01", "AUTHENTICATE", []string{"PLAIN", "AGJvYgBzZWNyZXQ="}}},
		{"X1 RESERVE {8+}\r\nuser.bob {19+}\r\nbe1.example!default\r\n", Command{"X1", "RESERVE", []string{"user.bob", "be1.example!default"}}},
		{"X2 activate \"user.bob\" \"be1!p\" \"bob\tlrs\t\"\n", Command{"X2", "ACTIVATE", []string{"user.bob", "be1!p", "bob\tlrs\t"}}},
		{"X3 ACTIVATE {4+}\r\nuser {2+}\r\nb! {0+}\r\n\r\n", Command{"X3", "ACTIVATE", []string{"user", "b!", ""}}},
		{"X4 FIND \"a\\\"b\\\\c\"\r\n", Command{"X4", "FIND", []string{`a"b\c`}}},
		{"X5 LIST\r\n", Command{"X5", "LIST", nil}},
		{"U01 UPDATE \"be1\" \"be2\"\r\n", Command{"U01", "UPDATE", []string{"be1", "be2"}}},
		{"A01 AUTHENTICATE PLAIN =\r\n", Command{"A01", "AUTHENTICATE", []string{"PLAIN", "="}}},
		{"X6 FIND {5}\r\nuser.\r\n", Command{"X6", "FIND", []string{"user."}}},
		{"N1 NOOP\r\n", Command{"N1", "NOOP", nil}},
	}
	for _, tt := range tests {
		d, _ := decoder(tt.in)
		got, err := d.ReadCommand()
		if err != nil {
			t.Errorf("ReadCommand(%q) error %v", tt.in, err)
			continue
		}
		if got.Tag != tt.want.Tag || got.Name != tt.want.Name || !slices.Equal(got.Args, tt.want.Args) {
			t.Errorf("ReadCommand(%q) = %+v, want %+v", tt.in, *got, tt.want)
		}
		if _, err := d.ReadCommand(); !errors.Is(err, io.EOF) {
			t.Errorf("ReadCommand(%q) then %v, want EOF", tt.in, err)
		}
	}
}

func TestSynchronisingLiteralAsksToGoAhead(t *testing.T) {
	d, cont := decoder("X1 FIND {3}\r\nabc\r\n")
	if _, err := d.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if cont.String() != "+ go ahead\r\n" {
		t.Errorf("continuation %q, want %q", cont.String(), "+ go ahead\r\n")
	}
}

// TestMalformedThenUsable: each malformed command gets a SyntaxError with
// its tag, and the next command still decodes.
func TestMalformedThenUsable(t *testing.T) {
	tests := []struct {
		in, tag, msg string
	}{
		{"\r\n", "", "Need command"},
		{"X1\r\n", "", "Need command"},
		{"X1 \r\n", "X1", "Null command"},
		{"X2 FIND \"unterminated\r\n", "X2", "Unterminated quoted string"},
		{"X3 FIND {abc}\r\n", "X3", "Badly formed literal"},
		// The client sends the oversized non-synchronising literal.
		{"X4 FIND {70000+}\r\n" + strings.Repeat("x", 70000) + "\r\n", "X4", "Literal too big"},
		{"X5 FIND {99999999}\r\n", "X5", "literal too big"},
		{"X6 FIND \"a\"junk\r\n", "X6", "Badly formed arguments"},
		{"X7 FIND " + strings.Repeat("a", 10000) + "\r\n", "X7", "Line too long"},
		{"X8 FIND {3+}\r\na\x00b\r\n", "X8", "NUL in literal"},
		{"X9 FIND \"a\x00b\" \"c\"\r\n", "X9", "NUL in quoted string"},
		{"Y1 FIND {2+}x\r\n", "Y1", "Missing newline after literal size"},
	}
	for _, tt := range tests {
		d, _ := decoder(tt.in + "Z1 NOOP\r\n")
		_, err := d.ReadCommand()
		var se *SyntaxError
		if !errors.As(err, &se) || se.Tag != tt.tag || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("ReadCommand(%.40q) error %v (%#v), want SyntaxError tag %q msg %q", tt.in, err, se, tt.tag, tt.msg)
			continue
		}
		got, err := d.ReadCommand()
		if err != nil || got.Tag != "Z1" || got.Name != "NOOP" {
			t.Errorf("after %.40q: ReadCommand() = %+v, %v, want Z1 NOOP", tt.in, got, err)
		}
	}
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user.bob", `"user.bob"`},
		{"bob\tlrs\t", "\"bob\tlrs\t\""},
		{`a"b\c`, `"a\"b\\c"`},
		{"", `""`},
		{"a\r\nb", "{4}\r\na\r\nb"},
	}
	for _, tt := range tests {
		if got := string(AppendString(nil, tt.in)); got != tt.want {
			t.Errorf("AppendString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzReadCommand: no input panics or loops (each call consumes input, so
// the calls end with it), and every command decoded has a tag, a name and
// no NUL.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"A01 AUTHENTICATE \"PLAIN\" {16+}\r\nAGJvYgBzZWNyZXQ=\r\n",
		"X1 RESERVE {8+}\r\nuser.bob {19+}\r\nbe1.example!default\r\n",
		"X2 ACTIVATE \"user.bob\" \"be1!p\" \"bob\tlrs\t\"\r\n",
		"X4 FIND \"a\\\"b\"\r\n", "U01 UPDATE\r\n", "\r\n", "X {3}\r\nabc\r\n", "X FIND {99999999+}\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, _ := decoder(in)
		d.MaxLine, d.MaxLiteral = 256, 256
		for i := 0; i <= len(in)+1; i++ {
			cmd, err := d.ReadCommand()
			var se *SyntaxError
			switch {
			case err == nil:
				if cmd.Tag == "" || cmd.Name == "" {
					t.Fatalf("ReadCommand(%q) = %+v with an empty tag or name", in, cmd)
				}
				for _, a := range cmd.Args {
					if strings.IndexByte(a, 0) >= 0 {
						t.Fatalf("ReadCommand(%q) let a NUL through: %q", in, a)
					}
				}
			case errors.As(err, &se):
			default:
				return
			}
		}
		t.Fatalf("ReadCommand(%q) did not reach the end of input", in)
	})
}

func ExampleAppendString() {
	fmt.Println(string(AppendString(nil, "user.jane")))
	// Output: "user.jane"
}
