package lmtpproxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// FuzzParseRcpt checks that taking IGNOREQUOTA off a RCPT argument keeps
// the path and every other parameter.
func FuzzParseRcpt(f *testing.F) {
	for _, s := range []string{"TO:<jane@example.com> IGNOREQUOTA", "to:<a> ignorequota NOTIFY=NEVER",
		"TO: <a@b>", "TO:<\"x>y\"@z> IGNOREQUOTA", "TO:<>", "FROM:<a>", "TO:<a> IGNOREQUOTAX"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r, rewritten, ok := parseRcpt(arg)
		if !ok {
			return
		}
		if !strings.Contains(rewritten, "<"+r.path+">") {
			t.Fatalf("parseRcpt(%q) = %q: the path %q is gone", arg, rewritten, r.path)
		}
		again, twice, _ := parseRcpt(rewritten)
		if again.ignoreQuota || again.path != r.path || twice != rewritten {
			t.Fatalf("parseRcpt(%q) = %q, which parses again as %+v, %q", arg, rewritten, again, twice)
		}
		if r.ignoreQuota && stripped(rewritten) != stripped(arg) {
			t.Fatalf("parseRcpt(%q) = %q: more than IGNOREQUOTA went", arg, rewritten)
		}
	})
}

// FuzzParamConn checks that a conversation without IGNOREQUOTA passes
// through untouched, whatever the replies make of it, and that one with
// it loses nothing else.
func FuzzParamConn(f *testing.F) {
	f.Add([]byte("LHLO x\r\nMAIL FROM:<>\r\nRCPT TO:<a> IGNOREQUOTA\r\nDATA\r\nRCPT TO:<b> IGNOREQUOTA\r\n.\r\n"), "354")
	f.Add([]byte("BDAT 5\r\nRCPT TO:<a>\r\nBDAT 3 LAST\r\nabc"), "250")
	f.Add([]byte("AUTH PLAIN\r\nAGEAYg==\r\nRCPT TO:<a>\r\n"), "334")
	f.Fuzz(func(t *testing.T, in []byte, reply string) {
		client, server := net.Pipe()
		pc := newParamConn(server, 0)
		pc.noteReplies([]byte(reply + " x\r\n"))
		go func() {
			client.Write(in)
			client.Close()
		}()
		server.SetDeadline(time.Now().Add(5 * time.Second))
		var out bytes.Buffer
		buf := make([]byte, 37) // small reads, as bufio's are not
		for {
			n, err := pc.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF || err == io.ErrClosedPipe {
				break
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
		}
		got, want := out.Bytes(), in
		if bytes.Contains(bytes.ToUpper(in), []byte("BDAT")) {
			return // BDAT lines are replaced: CHUNKING is refused
		}
		if !bytes.Contains(bytes.ToUpper(in), []byte("IGNOREQUOTA")) {
			if !bytes.Equal(got, want) {
				t.Fatalf("%q came out as %q", want, got)
			}
			return
		}
		if stripped(string(got)) != stripped(string(want)) {
			t.Fatalf("%q came out as %q", want, got)
		}
	})
}

// stripped is s without IGNOREQUOTA and white space, in upper case.
func stripped(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.ToUpper(s), "IGNOREQUOTA", "")), "")
}

// FuzzCheckedReader checks the counting test for bare CRs and LFs against
// a byte-by-byte one, with the message cut into two reads anywhere.
func FuzzCheckedReader(f *testing.F) {
	for _, s := range []string{"a\r\nb\r\n", "a\nb", "a\rb", "a\r", "\r\n\r\n", "\r", "\n", "ab\r\r\n"} {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, msg string, cut uint8) {
		want := true
		for i := 0; i < len(msg); i++ {
			if msg[i] == '\n' && (i == 0 || msg[i-1] != '\r') || msg[i] == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') {
				want = false
			}
		}
		k := int(cut) % (len(msg) + 1)
		c := &checkedReader{r: io.MultiReader(strings.NewReader(msg[:k]), strings.NewReader(msg[k:]))}
		_, err := io.ReadAll(c)
		if got := err == nil; got != want {
			t.Fatalf("checkedReader(%q cut at %d) = %v, want clean %v", msg, k, err, want)
		}
	})
}

// FuzzWriteStuffed checks that a dot-stuffed message reads back, with
// net/textproto's decoder, as the message sent, in whatever reads it
// comes.
func FuzzWriteStuffed(f *testing.F) {
	for _, s := range []string{"a\r\n.b\r\n", ".\r\n", "..\r\n.\r\n", "", "x", "a\r\n\r\n.", ".a"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, msg string, cut uint8) {
		// Messages have CRLF line ends only; make this one so.
		msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r", ""), "\n", "\r\n")
		k := int(cut) % (len(msg) + 1)
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := writeStuffed(w, io.MultiReader(strings.NewReader(msg[:k]), strings.NewReader(msg[k:]))); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		got, err := io.ReadAll(textproto.NewReader(bufio.NewReader(&out)).DotReader())
		if err != nil {
			t.Fatalf("reading back %q: %v", out.String(), err)
		}
		want := strings.ReplaceAll(msg, "\r\n", "\n")
		if msg != "" && !strings.HasSuffix(msg, "\r\n") {
			want += "\n"
		}
		if string(got) != want {
			t.Fatalf("writeStuffed(%q) = %q, which reads back as %q", msg, out.String(), got)
		}
	})
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		code int
		text string
		want smtp.SMTPError
	}{
		{550, "5.1.1 User unknown", smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "User unknown"}},
		{452, "4.2.2 Over quota", smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Over quota"}},
		{554, "Transaction failed", smtp.SMTPError{Code: 554, EnhancedCode: smtp.NoEnhancedCode, Message: "Transaction failed"}},
		{550, "5.x.1 odd", smtp.SMTPError{Code: 550, EnhancedCode: smtp.NoEnhancedCode, Message: "5.x.1 odd"}},
	} {
		if got := parseReply(tc.code, tc.text); *got != tc.want {
			t.Errorf("parseReply(%d, %q) = %+v, want %+v", tc.code, tc.text, *got, tc.want)
		}
	}
}
