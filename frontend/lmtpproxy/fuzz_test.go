package lmtpproxy

import (
	"bytes"
	"io"
	"net"
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

// FuzzRawMessage checks the message a session reads as the client sent
// it: it ends where go-smtp's dataReader would end it, and nothing of the
// stream is lost or read twice; go-smtp then reads the final dot alone,
// and after it whatever the client sent next.
func FuzzRawMessage(f *testing.F) {
	for _, s := range []string{"a\r\n.\r\nQUIT\r\n", ".\r\n", "..\r\n.\r\n", "a\r\n.b\r\n..\r\n.\r\n", "a\n.\r\n\r\n.\r\n",
		"a\r\r\n.\r\n", "no end", "x\r\n.\r", ""} {
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		client, server := net.Pipe()
		pc := newParamConn(server, 0)
		pc.mode = modeAfterData
		pc.noteReplies([]byte("354 go ahead\r\n"))
		go func() {
			client.Write(in)
			client.Close()
		}()
		server.SetDeadline(time.Now().Add(5 * time.Second))
		msg := pc.message(0)
		var raw bytes.Buffer
		buf := make([]byte, int(size)%61+1)
		var err error
		for err == nil {
			var n int
			n, err = msg.Read(buf)
			raw.Write(buf[:n])
		}
		var rest bytes.Buffer
		for {
			n, err := pc.Read(buf)
			rest.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if err != io.EOF {
			if err != io.ErrUnexpectedEOF || !bytes.Equal(raw.Bytes(), in) || rest.Len() != 0 {
				t.Fatalf("%q: read %q, then %v, and go-smtp %q; want all of it, then the end of the stream", in, raw.Bytes(), err, rest.Bytes())
			}
			return
		}
		if !bytes.HasPrefix(rest.Bytes(), []byte(finalDot)) || !bytes.Equal(append(raw.Bytes(), rest.Bytes()[len(finalDot):]...), in) {
			t.Fatalf("%q: the message %q and, for go-smtp, %q", in, raw.Bytes(), rest.Bytes())
		}
		if !bytes.HasSuffix(raw.Bytes(), []byte(finalDot)) {
			t.Fatalf("%q: the message %q does not end with the final dot", in, raw.Bytes())
		}
		// Where every line ends in CRLF, the message ends at the first
		// line of a dot alone, and its size is what is left once the
		// stuffing is undone.
		if clean := bytes.Count(in, crlf); bytes.Count(in, cr) == clean && bytes.Count(in, lf) == clean {
			if want := bytes.Index(append([]byte("\r\n"), in...), []byte("\r\n.\r\n")) + 3; raw.Len() != want {
				t.Fatalf("%q: the message %q, want the first %d bytes", in, raw.Bytes(), want)
			}
			body := raw.Bytes()[:raw.Len()-len(finalDot)]
			unstuffed := bytes.ReplaceAll(append([]byte("\r\n"), body...), []byte("\r\n."), []byte("\r\n"))[2:]
			if msg.size() != int64(len(unstuffed)) {
				t.Fatalf("%q: size %d of a message of %d bytes unstuffed", in, msg.size(), len(unstuffed))
			}
		}
	})
}

// A line is measured across reads: one of maxLine octets, CRLF included,
// passes wherever the reads cut it, one octet more does not.
func TestCheckedReaderLineBound(t *testing.T) {
	for _, extra := range []int{0, 1} {
		line := strings.Repeat("x", maxLine-2+extra) + "\r\n"
		msg := "a\r\n" + line + "b\r\n"
		for _, cut := range []int{0, 1, 3, 4, 100, len(msg) / 2, len(msg) - 4, len(msg) - 3, len(msg)} {
			c := &checkedReader{r: io.MultiReader(strings.NewReader(msg[:cut]), strings.NewReader(msg[cut:]))}
			_, err := io.Copy(io.Discard, c)
			if want := extra == 1; (err == errLongLine) != want {
				t.Errorf("a line of %d octets cut at %d: %v, want refused %v", len(line), cut, err, want)
			}
		}
	}
}
