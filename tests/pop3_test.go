package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/frontend"
)

// pop3Script is a POP3 session in Python's poplib: it prints what STAT,
// LIST, UIDL, RETR and TOP return, then DELEs the messages named in its
// last argument.
const pop3Script = `
import poplib, sys
host, port, user, pw, dele = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
p = poplib.POP3(host, port, timeout=30)
p.user(user)
p.pass_(pw)
print("STAT", p.stat())
resp, listing, _ = p.list()
print("LIST", resp, listing)
resp, uidl, _ = p.uidl()
print("UIDL", resp, uidl)
for i in range(1, len(listing) + 1):
    resp, lines, octets = p.retr(i)
    print("RETR", i, resp, octets, lines)
    resp, lines, octets = p.top(i, 0)
    print("TOP", i, resp, lines)
for n in dele.split(","):
    if n:
        print("DELE", n, p.dele(int(n)))
print("QUIT", p.quit())
`

func runPOP3Script(t testing.TB, addr, user, password, dele string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "pop3.py")
	if err := os.WriteFile(script, []byte(pop3Script), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("python3", script, host, port, user, password, dele).CombinedOutput()
	if err != nil {
		t.Fatalf("poplib against %s: %v\n%s", addr, err, out)
	}
	return string(out)
}

// TestPOP3OnCyrus reads jane's INBOX with Python's poplib through
// roost-frontend and directly on her backend, and gets the same answers;
// a DELE through the frontend is done on the backend; Cyrus's pop3test
// logs in through it with AUTH PLAIN; and a wrong password, an unknown
// user and a stopped backend get clear -ERRs.
func TestPOP3OnCyrus(t *testing.T) {
	m := startMurderWith(t, func(c *frontend.Config) { c.POP3Addr = "127.0.0.1:0" })
	for _, subject := range []string{"first", "second"} {
		got := lmtpDeliver(t, m.f.LMTPAddr(), "", []string{"jane@example.com"}, testMessage(subject))
		wantStatus(t, got, "jane@example.com", "250")
	}
	through := runPOP3Script(t, m.f.POP3Addr(), "jane", "jane-pw", "")
	direct := runPOP3Script(t, m.be2.pop3Addr, "jane", "jane-pw", "")
	if through != direct {
		t.Errorf("through the frontend:\n%s\ndirectly:\n%s\nwant the same", through, direct)
	}
	if !strings.Contains(through, "STAT (2,") || !strings.Contains(through, "Subject: second") {
		t.Errorf("poplib saw:\n%s\nwant both messages", through)
	}
	runPOP3Script(t, m.f.POP3Addr(), "jane", "jane-pw", "1")
	if after := runPOP3Script(t, m.be2.pop3Addr, "jane", "jane-pw", ""); !strings.Contains(after, "STAT (1,") {
		t.Errorf("after DELE 1 through the frontend the backend shows:\n%s\nwant one message", after)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(cyrusBin, "pop3test"), "-m", "PLAIN", "-a", "jane", "-w", "jane-pw",
		"-p", portOf(m.f.POP3Addr()), "127.0.0.1")
	cmd.Stdin = strings.NewReader("STAT\r\nQUIT\r\n")
	raw, _ := cmd.CombinedOutput()
	if out := string(raw); !strings.Contains(out, "Authenticated.") || !strings.Contains(out, "+OK 1 ") {
		t.Errorf("pop3test through the frontend:\n%s\nwant it authenticated and STAT +OK 1", out)
	}

	p := dialRaw(t, m.f.POP3Addr(), "+OK")
	p.send("USER jane\r\nPASS wrong\r\n")
	p.expect("+OK")
	p.expect("-ERR [AUTH]")
	p.send("USER nobody\r\nPASS pw\r\n")
	p.expect("+OK")
	p.expect("-ERR [AUTH]")
	m.be2.stop()
	p.send("USER jane\r\nPASS jane-pw\r\n")
	p.expect("+OK")
	p.expect("-ERR [SYS/TEMP]")
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}
