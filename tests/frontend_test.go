package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/frontend"
	"github.com/roost-mail/roost/frontend/namespace"
	"github.com/roost-mail/roost/frontend/servermap"
)

// imapClient is a plain IMAP client for tests: one command at a time,
// the untagged lines and the tagged completion of each.
type imapClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	n    int
}

func dialIMAP(t testing.TB, addr string) *imapClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &imapClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func (c *imapClient) line() string {
	c.t.Helper()
	c.conn.SetDeadline(time.Now().Add(40 * time.Second))
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("IMAP read: %v", err)
	}
	return strings.TrimRight(l, "\r\n")
}

// run sends one command (literals given as {n} are sent after the
// server's continuation) and returns its untagged lines and completion.
func (c *imapClient) run(command string, literals ...string) ([]string, string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	c.conn.SetDeadline(time.Now().Add(40 * time.Second))
	parts := strings.Split(command, "\x00")
	fmt.Fprintf(c.conn, "%s %s", tag, parts[0])
	for i, lit := range literals {
		fmt.Fprintf(c.conn, "\r\n")
		if l := c.line(); !strings.HasPrefix(l, "+") {
			c.t.Fatalf("%s: no continuation for literal %d: %q", command, i, l)
		}
		fmt.Fprint(c.conn, lit)
		if i+1 < len(parts) {
			fmt.Fprint(c.conn, parts[i+1])
		}
	}
	fmt.Fprint(c.conn, "\r\n")
	var untagged []string
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

func (c *imapClient) ok(command string, literals ...string) []string {
	c.t.Helper()
	u, done := c.run(command, literals...)
	if !strings.HasPrefix(done, "OK") {
		c.t.Fatalf("%s = %s (after %q), want OK", command, done, u)
	}
	return u
}

// listNames returns the names of LIST replies.
func listNames(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "* LIST ") {
			continue
		}
		i := strings.LastIndex(l, `" `)
		out = append(out, strings.Trim(l[i+2:], `"`))
	}
	slices.Sort(out)
	return out
}

func (c *cyrus) addUser(t testing.TB, name, password string) {
	t.Helper()
	cmd := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", filepath.Join(c.dir, "sasldb2"), "-u", c.servername, name)
	cmd.Stdin = strings.NewReader(password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2: %v: %s", err, out)
	}
	c.chownToCyrus(t)
}

// murder is two real Cyrus backends on a three-node cluster, and
// roost-frontend in front: john's INBOX on backend1; jane's on backend2,
// with user.jane.Shared shared with john and user.jane.Private not.
type murder struct {
	nodes    []*testNode
	be1, be2 *cyrus
	f        *frontend.Frontend
}

// backendMap says where each backend's IMAP, LMTP and POP3 listen, by
// server name, as --backend-map does.
func backendMap(backends ...*cyrus) servermap.Map {
	m := servermap.Map{}
	for _, b := range backends {
		m[b.servername] = servermap.Addrs{servermap.IMAP: b.imapAddr, servermap.LMTP: b.lmtpAddr, servermap.POP3: b.pop3Addr}
	}
	return m
}

// backendMapFlags are backendMap's entries as roost-frontend flags.
func backendMapFlags(backends ...*cyrus) []string {
	var out []string
	for _, b := range backends {
		out = append(out, "--backend-map", b.servername+"=imap="+b.imapAddr+",lmtp="+b.lmtpAddr+",pop3="+b.pop3Addr)
	}
	return out
}

func startMurder(t testing.TB) *murder {
	t.Helper()
	return startMurderWith(t, nil)
}

// startMurderWith is startMurder with the frontend's configuration
// changed by adjust.
func startMurderWith(t testing.TB, adjust func(*frontend.Config)) *murder {
	t.Helper()
	needCyrus(t)
	nodes := startThree(t, "fe", false)
	// The backends are named by their addresses, so that Cyrus's own
	// frontend reaches them too, and roost-frontend dials a location's
	// server name when no --backend-map entry names it.
	be1 := startAddressedBackend(t, "backend1", nodes[1].mupdateAddr)
	be2 := startAddressedBackend(t, "backend2", nodes[2].mupdateAddr)
	be1.addUser(t, "john", "john-pw")
	be2.addUser(t, "jane", "jane-pw")
	be1.imapOK(t, "CREATE user.john", "CREATE user.john.Sent")
	be2.imapOK(t, "CREATE user.jane", "CREATE user.jane.Shared", "CREATE user.jane.Private",
		"SETACL user.jane.Shared john lrswi")
	waitFor(t, "the cluster to hold both backends' mailboxes", 30*time.Second, func() error {
		return sameNames(names(nodes[0]), []string{"user.jane", "user.jane.Private", "user.jane.Shared", "user.john", "user.john.Sent"})
	})

	pw := writeSecret(t, cyrusPassword)
	var endpoints []string
	for _, n := range nodes {
		endpoints = append(endpoints, n.grpcAddr)
	}
	ns := namespace.DefaultConfig()
	ns.UnixHierarchySep = false // as the harness's backends
	cfg := frontend.Config{Endpoints: endpoints, DataDir: t.TempDir(), IMAPAddr: "127.0.0.1:0",
		LMTPAddr: "127.0.0.1:0", BackendMap: backendMap(be1, be2), ProxyUser: cyrusAdmin, ProxyPasswordFile: pw, Namespace: ns, Admins: []string{cyrusAdmin}, HTTPAddr: "127.0.0.1:0",
		Logger: testLogger(t)}
	if adjust != nil {
		adjust(&cfg)
	}
	return &murder{nodes: nodes, be1: be1, be2: be2, f: startSyncedFrontend(t, cfg)}
}

// startSyncedFrontend starts an in-process roost-frontend and waits for
// its cache's first sync.
func startSyncedFrontend(t testing.TB, cfg frontend.Config) *frontend.Frontend {
	t.Helper()
	f, err := frontend.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	waitFor(t, "the frontend's first sync", 30*time.Second, func() error {
		if !f.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	return f
}

// cyrusFrontend starts Cyrus's own frontend in front of the same
// backends, its mupdate slave following the first node, with john and
// jane able to log in, and waits until it knows every mailbox the
// cluster holds.
func (m *murder) cyrusFrontend(t testing.TB) *cyrus {
	t.Helper()
	fe := startCyrus(t, "cyrus-frontend", "frontend", m.nodes[0].mupdateAddr)
	fe.addUser(t, "john", "john-pw")
	fe.addUser(t, "jane", "jane-pw")
	waitFor(t, "Cyrus's frontend to hold every mailbox", 60*time.Second, func() error {
		dump := fe.tool(t, "ctl_mboxlist", "-d")
		for _, n := range names(m.nodes[0]) {
			if !strings.Contains(dump, fmt.Sprintf("%q:", n)) {
				return fmt.Errorf("Cyrus's frontend lacks %s", n)
			}
		}
		return nil
	})
	return fe
}

// TestFrontendOnCyrus is a murder of two real Cyrus 3.6 backends on a
// three-node cluster with roost-frontend in front: john (on backend1)
// sees his own mailboxes and jane's folder shared with him, not her
// private one; SELECT, APPEND and FETCH on each backend; a CREATE is in
// the very next LIST; with backend2 stopped, only its mailboxes fail.
func TestFrontendOnCyrus(t *testing.T) {
	m := startMurder(t)
	f, be2 := m.f, m.be2
	john := dialIMAP(t, f.IMAPAddr())
	if _, done := john.run("SELECT INBOX"); !strings.HasPrefix(done, "BAD") {
		t.Errorf("SELECT before LOGIN = %s, want BAD", done)
	}
	if _, done := john.run("LOGIN john wrong"); !strings.HasPrefix(done, "NO") {
		t.Errorf("LOGIN with a wrong password = %s, want NO", done)
	}
	john.ok("LOGIN john john-pw")
	if got, want := listNames(john.ok(`LIST "" "*"`)), []string{"INBOX", "Other Users.jane.Shared", "Sent"}; !slices.Equal(got, want) {
		t.Errorf("john's LIST = %q, want %q", got, want)
	}
	// LIST with return options goes to every backend john sees, and
	// brings each one's mailboxes.
	if got := listNames(john.ok(`LIST "" "*" RETURN (SUBSCRIBED)`)); !slices.Contains(got, "Other Users.jane.Shared") || !slices.Contains(got, "INBOX") {
		t.Errorf("john's LIST RETURN (SUBSCRIBED) = %q, want both backends' mailboxes", got)
	}
	// ENABLE reaches the backends already connected (the LIST above
	// reached backend2) as well as the INBOX's.
	john.ok("ENABLE QRESYNC")
	john.ok("SELECT {5}", "INBOX")
	msg := "From: jane@example.com\r\nSubject: hello\r\n\r\nThrough the frontend.\r\n"
	john.ok(fmt.Sprintf("APPEND INBOX (\\Seen) {%d}", len(msg)), msg)
	if got := strings.Join(john.ok("FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "\n"); !strings.Contains(got, "Subject: hello") || !strings.Contains(got, `\Seen`) {
		t.Errorf("FETCH of the appended message: %s", got)
	}
	if got := strings.Join(john.ok("SELECT {23}", "Other Users.jane.Shared"), " "); !strings.Contains(got, "[CLOSED]") {
		t.Errorf("SELECT on another backend with INBOX selected = %q, want [CLOSED] first", got)
	}
	john.ok(fmt.Sprintf("APPEND \"Other Users.jane.Shared\" {%d}", len(msg)), msg)
	if got := strings.Join(john.ok("FETCH 1 (BODY.PEEK[TEXT])"), "\n"); !strings.Contains(got, "Through the frontend.") {
		t.Errorf("FETCH on backend2: %s", got)
	}
	if _, done := john.run(`EXAMINE "Other Users.jane.Shared" (QRESYNC (1 1))`); !strings.HasPrefix(done, "OK") {
		t.Errorf("EXAMINE with QRESYNC on backend2 after ENABLE QRESYNC = %s, want OK", done)
	}
	if _, done := john.run(`SELECT "Other Users.jane.Private"`); !strings.HasPrefix(done, "NO") {
		t.Errorf("SELECT of jane's private folder = %s, want NO", done)
	}

	// Bad input gets BAD or NO, and the connection stays usable.
	raw := func(line string) string {
		t.Helper()
		john.n++
		tag := fmt.Sprintf("t%d", john.n)
		fmt.Fprintf(john.conn, "%s %s\r\n", tag, line)
		for {
			if l := john.line(); strings.HasPrefix(l, tag+" ") {
				return strings.TrimPrefix(l, tag+" ")
			}
		}
	}
	for what, line := range map[string]string{
		"a NUL byte":             "NOOP \x00",
		"a 1 MB line":            "SEARCH TEXT " + strings.Repeat("x", 1<<20),
		"a literal too large":    "APPEND INBOX {100000000}",
		"an unknown command":     "FROBNICATE",
		"a malformed SELECT":     `SELECT "unterminated`,
		"a RENAME with one name": "RENAME Sent",
	} {
		if done := raw(line); !strings.HasPrefix(done, "BAD") && !strings.HasPrefix(done, "NO") {
			t.Errorf("%s: %s, want BAD or NO", what, done)
		}
		john.ok("NOOP")
	}

	// A CREATE lands on the parent's backend and is in the next LIST.
	john.ok("CREATE Projects")
	if got := listNames(john.ok(`LIST "" "*"`)); !slices.Contains(got, "Projects") {
		t.Errorf("LIST right after CREATE = %q, want Projects in it", got)
	}
	if e, ok := f.Cache().Lookup("user.john.Projects"); !ok || e.Server() != m.be1.servername {
		t.Errorf("user.john.Projects in the cache: %+v, %v; want on backend1", e, ok)
	}

	// A message arriving in the selected mailbox while a command went to
	// another backend is announced before that command completes.
	john.ok("SELECT INBOX")
	direct := dialIMAP(t, m.be1.imapAddr)
	direct.ok("LOGIN john john-pw")
	direct.ok(fmt.Sprintf("APPEND INBOX {%d}", len(msg)), msg)
	if got := strings.Join(john.ok(`STATUS "Other Users.jane.Shared" (MESSAGES)`), " "); !strings.Contains(got, " EXISTS") {
		t.Errorf("STATUS on backend2 with INBOX selected brought %q, want the new message's EXISTS", got)
	}

	// RENAME within a backend is in the next LIST; into a hierarchy on
	// another backend it is refused, as Cyrus's frontend refuses it.
	john.ok("CREATE Drafts")
	john.ok("RENAME Drafts Old")
	if got := listNames(john.ok(`LIST "" "*"`)); !slices.Contains(got, "Old") || slices.Contains(got, "Drafts") {
		t.Errorf("LIST right after RENAME = %q, want Old and no Drafts", got)
	}
	if _, done := john.run(`RENAME Old "Other Users.jane.Shared.Old"`); !strings.HasPrefix(done, "NO Cross-server") {
		t.Errorf("RENAME onto another backend = %s, want NO Cross-server", done)
	}
	john.ok("DELETE Old")
	if got := listNames(john.ok(`LIST "" "*"`)); slices.Contains(got, "Old") {
		t.Errorf("LIST right after DELETE = %q, still has Old", got)
	}

	// COPY and MOVE across backends keep flags and internal date; MOVE
	// needs the right to expunge the source.
	john.ok("SELECT INBOX")
	dateOf := func(lines []string) string {
		for _, l := range lines {
			if i := strings.Index(l, `INTERNALDATE "`); i >= 0 {
				return l[i : i+strings.Index(l[i+14:], `"`)+15]
			}
		}
		return ""
	}
	srcDate := dateOf(john.ok("FETCH 1 (INTERNALDATE)"))
	// A message another session appends meanwhile is announced by the
	// COPY, which talks to the source.
	direct.ok(fmt.Sprintf("APPEND INBOX {%d}", len(msg)), msg)
	if done := strings.Join(john.ok(`COPY 1 "Other Users.jane.Shared"`), " "); srcDate == "" || strings.Contains(done, "EXPUNGE") || !strings.Contains(done, "3 EXISTS") {
		t.Errorf("COPY across backends: date %q, untagged %q; want the new message's EXISTS", srcDate, done)
	}
	john.ok(`SELECT "Other Users.jane.Shared"`)
	copied := strings.Join(john.ok("FETCH 2 (FLAGS INTERNALDATE)"), " ")
	if !strings.Contains(copied, `\Seen`) || !strings.Contains(copied, srcDate) {
		t.Errorf("the copy on backend2 = %s, want \\Seen and %s", copied, srcDate)
	}
	if _, done := john.run("MOVE 2 INBOX"); !strings.HasPrefix(done, "NO [NOPERM]") {
		t.Errorf("MOVE out of a folder john may not expunge = %s, want NO [NOPERM]", done)
	}
	john.ok("SELECT INBOX")
	// With QRESYNC enabled the source reports VANISHED, not EXPUNGE; and
	// nothing of the proxy's own commands reaches the client.
	if moved := strings.Join(john.ok(`MOVE 1 "Other Users.jane.Shared"`), " "); !strings.Contains(moved, "VANISHED") || strings.Contains(moved, "roost") {
		t.Errorf("MOVE across backends sent %q, want a VANISHED and none of the proxy's own tags", moved)
	}
	if st := strings.Join(john.ok("STATUS INBOX (MESSAGES)"), " "); !strings.Contains(st, "MESSAGES 2") {
		t.Errorf("INBOX after MOVE: %s, want the 2 messages appended directly", st)
	}
	if st := strings.Join(john.ok(`STATUS "Other Users.jane.Shared" (MESSAGES)`), " "); !strings.Contains(st, "MESSAGES 3") {
		t.Errorf("the shared folder after COPY and MOVE: %s, want 3 messages", st)
	}

	// backend2 goes away: its mailboxes fail, the rest works.
	be2.stop()
	if _, done := john.run(`SELECT "Other Users.jane.Shared"`); !strings.HasPrefix(done, "NO [UNAVAILABLE]") {
		t.Errorf("SELECT on a stopped backend = %s, want NO [UNAVAILABLE]", done)
	}
	if _, done := john.run(`STATUS "Other Users.jane.Shared" (MESSAGES)`); !strings.HasPrefix(done, "NO [UNAVAILABLE]") {
		t.Errorf("STATUS on a stopped backend = %s, want NO [UNAVAILABLE]", done)
	}
	john.ok("SELECT INBOX")
	john.ok("LOGOUT")

	// An admin, with no INBOX of its own, sees every mailbox.
	admin := dialIMAP(t, f.IMAPAddr())
	admin.ok("LOGIN " + cyrusAdmin + " " + cyrusPassword)
	if got := listNames(admin.ok(`LIST "" "*"`)); !slices.Contains(got, "user.jane.Private") || !slices.Contains(got, "user.john") {
		t.Errorf("the admin's LIST = %q, want every user's mailboxes", got)
	}
	admin.ok("LOGOUT")

	// With the whole cluster down the frontend routes from its cache.
	for _, n := range m.nodes {
		n.stop(t)
	}
	again := dialIMAP(t, f.IMAPAddr())
	again.ok("LOGIN john john-pw")
	if got := listNames(again.ok(`LIST "" "%"`)); !slices.Contains(got, "Projects") {
		t.Errorf("LIST with the cluster down = %q", got)
	}
	again.ok("SELECT INBOX")
	if ready, err := http.Get("http://" + f.HTTPAddr() + "/readyz"); err != nil {
		t.Error(err)
	} else if ready.Body.Close(); ready.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the cluster down: %d, want 200", ready.StatusCode)
	}

	// Every metric the frontend exports is documented, and these counted.
	resp, err := http.Get("http://" + f.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, _ := os.ReadFile("../docs/metrics.md")
	for line := range strings.Lines(string(body)) {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok && strings.HasPrefix(name, "roost_") {
			name, _, _ = strings.Cut(name, " ")
			if !strings.Contains(string(doc), "`"+name) {
				t.Errorf("docs/metrics.md does not list %s", name)
			}
		}
	}
	for _, want := range []string{`roost_frontend_imap_commands_total{server="` + m.be1.servername + `"}`, `roost_frontend_imap_logins_total{result="failed"} 1`,
		`roost_frontend_imap_cross_backend_copies_total{command="MOVE"} 1`, `roost_frontend_imap_backend_errors_total{server="` + be2.servername + `"}`,
		"roost_frontend_cache_ready 1"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// maildirFiles lists a Maildir tree's message files, relative to root.
func maildirFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (filepath.Base(filepath.Dir(p)) == "cur" || filepath.Base(filepath.Dir(p)) == "new") {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

// TestFrontendMbsync: a real client, isync's mbsync, mirrors john's whole
// account through the frontend, the folder jane shares with him included;
// a second run changes nothing.
func TestFrontendMbsync(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mbsync is not installed (tests/cyrus/install.sh installs isync)")
		}
		t.Skip("mbsync is not installed")
	}
	m := startMurder(t)
	john := dialIMAP(t, m.f.IMAPAddr())
	john.ok("LOGIN john john-pw")
	for _, box := range []string{"INBOX", "Sent", `"Other Users.jane.Shared"`} {
		for i := range 2 {
			msg := fmt.Sprintf("From: jane@example.com\r\nSubject: %s %d\r\n\r\nbody %d\r\n", box, i, i)
			john.ok(fmt.Sprintf("APPEND %s {%d}", box, len(msg)), msg)
		}
	}
	john.ok("LOGOUT")

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "mail"), 0o700)
	host, port, _ := net.SplitHostPort(m.f.IMAPAddr())
	conf := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(conf, []byte(fmt.Sprintf(`IMAPAccount john
Host %s
Port %s
User john
Pass john-pw
SSLType None
AuthMechs PLAIN

IMAPStore remote
Account john

MaildirStore local
Path %s/mail/
Inbox %s/mail/INBOX
SubFolders Verbatim

Channel john
Far :remote:
Near :local:
Patterns *
Create Near
SyncState *
`, host, port, dir, dir)), 0o600)
	sync := func() string {
		t.Helper()
		out, err := exec.Command(mbsync, "-c", conf, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		return string(out)
	}
	sync()
	first := maildirFiles(t, filepath.Join(dir, "mail"))
	perFolder := map[string]int{}
	for _, f := range first {
		perFolder[filepath.Dir(filepath.Dir(f))]++
	}
	want := map[string]int{"INBOX": 2, "Sent": 2, "Other Users/jane/Shared": 2}
	for folder, n := range want {
		if perFolder[folder] != n {
			t.Errorf("mbsync mirrored %d messages of %s, want %d (all: %q)", perFolder[folder], folder, n, first)
		}
	}
	sync()
	if second := maildirFiles(t, filepath.Join(dir, "mail")); !slices.Equal(second, first) {
		t.Errorf("a second mbsync changed the mirror:\n%q\nto\n%q", first, second)
	}
}
