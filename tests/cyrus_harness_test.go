package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real Cyrus IMAP (Debian's cyrus-imapd and cyrus-murder) as test peers.
// `make test` installs the packages when missing; without them the Cyrus
// tests skip, except under CI=true, where they fail.
const cyrusBin = "/usr/lib/cyrus/bin"

func needCyrus(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(cyrusBin, "master")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Cyrus is not installed (%v); make test installs it", err)
		}
		t.Skip("Cyrus is not installed; make test installs it")
	}
}

// cyrus is one Cyrus instance (a murder backend or frontend) run by
// Cyrus's own master process in a directory of its own.
type cyrus struct {
	name, dir, role string
	imapAddr        string
	// lmtpAddr and pop3Addr are a backend's (and a frontend's) lmtpd
	// and pop3d.
	lmtpAddr, pop3Addr string
	servername         string
	cmd                *exec.Cmd
}

const cyrusAdmin, cyrusPassword = "admin", "secret"

// startCyrus starts a backend (role "backend", whose START section pushes
// its mailbox list with ctl_mboxlist -m), a frontend (role "frontend",
// whose mupdate slave follows mupdateAddr) or Cyrus's own mupdate master
// (role "master", serving MUPDATE on imapAddr). Extra lines go into its
// imapd.conf.
func startCyrus(t testing.TB, name, role, mupdateAddr string, extra ...string) *cyrus {
	t.Helper()
	return launchCyrus(t, &cyrus{name: name, role: role, servername: name}, mupdateAddr, extra)
}

// startAddressedBackend starts a backend whose servername is its own IMAP
// address, so that a frontend with no map of server names (Cyrus's own,
// or roost-frontend without --backend-map) reaches it by dialling the
// location's server as host:port.
func startAddressedBackend(t testing.TB, name, mupdateAddr string, extra ...string) *cyrus {
	t.Helper()
	c := &cyrus{name: name, role: "backend", imapAddr: freePort(t)}
	c.servername = c.imapAddr
	return launchCyrus(t, c, mupdateAddr, extra)
}

func launchCyrus(t testing.TB, c *cyrus, mupdateAddr string, extra []string) *cyrus {
	t.Helper()
	needCyrus(t)
	c.dir = cyrusDir(t)
	if c.imapAddr == "" {
		c.imapAddr = freePort(t)
	}
	if c.role != "master" && c.lmtpAddr == "" {
		c.lmtpAddr, c.pop3Addr = freePort(t), freePort(t)
	}
	for _, sub := range []string{"spool", "proc", "lock", "socket", "sieve", "conf/db", "conf/socket", "conf/proc",
		"conf/lock", "conf/log", "conf/msg", "conf/user", "conf/quota", "conf/sieve", "conf/ptclient", "conf/sync"} {
		if err := os.MkdirAll(filepath.Join(c.dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.writeConfig(t, mupdateAddr, extra)
	sasl := exec.Command("/usr/sbin/saslpasswd2", "-p", "-c", "-f", filepath.Join(c.dir, "sasldb2"), "-u", c.servername, cyrusAdmin)
	sasl.Stdin = strings.NewReader(cyrusPassword)
	if out, err := sasl.CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2: %v: %s", err, out)
	}
	c.chownToCyrus(t)
	t.Cleanup(c.stop)
	c.launch(t)
	return c
}

// restart stops the instance and starts it again following mupdateAddr,
// as an operator does who edits mupdate_server in imapd.conf; its
// mailboxes and messages stay.
func (c *cyrus) restart(t testing.TB, mupdateAddr string, extra ...string) {
	t.Helper()
	c.stop()
	c.writeConfig(t, mupdateAddr, extra)
	c.chownToCyrus(t)
	c.launch(t)
}

// launch starts Cyrus's master process and waits for its greeting.
func (c *cyrus) launch(t testing.TB) {
	t.Helper()
	c.cmd = exec.Command(filepath.Join(cyrusBin, "master"), "-C", c.conf("imapd.conf"), "-M", c.conf("cyrus.conf"),
		"-p", c.conf("master.pid"), "-L", c.conf("master.log"))
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c.name+"'s IMAP greeting", 60*time.Second, func() error {
		if c.cmd.ProcessState != nil {
			return fmt.Errorf("Cyrus master exited")
		}
		conn, err := net.DialTimeout("tcp", c.imapAddr, time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(conn)
		for range 10 { // a MUPDATE banner has capability lines first
			line, err := br.ReadString('\n')
			if err != nil {
				return fmt.Errorf("greeting: %v", err)
			}
			if strings.HasPrefix(line, "* OK") {
				return nil
			}
		}
		return fmt.Errorf("no * OK greeting")
	})
}

// cyrusDir returns a directory Cyrus's unprivileged user can reach.
func cyrusDir(t testing.TB) string {
	dir := t.TempDir()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(d, fi.Mode().Perm()|0o055)
		}
	}
	return dir
}

func (c *cyrus) conf(name string) string { return filepath.Join(c.dir, name) }

func (c *cyrus) writeConfig(t testing.TB, mupdateAddr string, extra []string) {
	t.Helper()
	runUser, runGroup := "cyrus", "mail"
	if os.Getuid() != 0 {
		u, _ := user.Current()
		g, _ := user.LookupGroupId(u.Gid)
		runUser, runGroup = u.Username, g.Name
	}
	d := c.dir
	conf := []string{
		"configdirectory: " + d + "/conf", "defaultpartition: default", "partition-default: " + d + "/spool",
		"proc_path: " + d + "/proc", "mboxname_lockpath: " + d + "/lock", "lmtpsocket: " + d + "/socket/lmtp",
		"idlesocket: " + d + "/socket/idle", "notifysocket: " + d + "/socket/notify", "sievedir: " + d + "/sieve",
		"servername: " + c.servername, "cyrus_user: " + runUser, "cyrus_group: " + runGroup,
		"syslog_prefix: roost-test-" + c.name, "admins: " + cyrusAdmin, "allowplaintext: yes",
		"sasl_pwcheck_method: auxprop", "sasl_auxprop_plugin: sasldb", "sasl_sasldb_path: " + d + "/sasldb2",
		"sasl_mech_list: PLAIN LOGIN", "unixhierarchysep: no", "virtdomains: off",
	}
	if c.role != "master" {
		conf = append(conf, "mupdate_server: "+mupdateAddr, "mupdate_authname: "+cyrusAdmin,
			"mupdate_password: "+cyrusPassword, "mupdate_retry_delay: 2")
	}
	services := `  imap cmd="imapd -C ` + c.conf("imapd.conf") + `" listen="` + c.imapAddr + `" prefork=0`
	if c.role == "master" {
		services = `  mupdate cmd="mupdate -C ` + c.conf("imapd.conf") + ` -m" listen="` + c.imapAddr + `" prefork=1`
	}
	if c.role != "master" {
		services += "\n" + `  lmtp cmd="lmtpd -C ` + c.conf("imapd.conf") + `" listen="` + c.lmtpAddr + `" prefork=0` +
			"\n" + `  pop3 cmd="pop3d -C ` + c.conf("imapd.conf") + `" listen="` + c.pop3Addr + `" prefork=0`
	}
	start := `  recover cmd="ctl_cyrusdb -C ` + c.conf("imapd.conf") + ` -r"`
	switch c.role {
	case "backend":
		conf = append(conf, "proxyservers: "+cyrusAdmin)
		start += "\n" + `  mupdatepush cmd="ctl_mboxlist -C ` + c.conf("imapd.conf") + ` -m"`
	case "frontend":
		conf = append(conf, "proxy_authname: "+cyrusAdmin, "proxy_password: "+cyrusPassword)
		services += "\n" + `  mupdate cmd="mupdate -C ` + c.conf("imapd.conf") + `" listen="` + freePort(t) + `" prefork=1`
	}
	conf = append(conf, extra...)
	files := map[string]string{
		"imapd.conf": strings.Join(conf, "\n") + "\n",
		"cyrus.conf": "START {\n" + start + "\n}\nSERVICES {\n" + services + "\n}\nEVENTS {\n}\n",
	}
	for name, body := range files {
		if err := os.WriteFile(c.conf(name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (c *cyrus) chownToCyrus(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		return
	}
	u, err := user.Lookup("cyrus")
	if err != nil {
		t.Fatalf("no cyrus user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	filepath.Walk(c.dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, uid, gid)
		}
		return nil
	})
}

func (c *cyrus) stop() {
	if c.cmd == nil || c.cmd.Process == nil || c.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// tool runs a Cyrus command-line tool against this instance.
func (c *cyrus) tool(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(cyrusBin, name), append([]string{"-C", c.conf("imapd.conf")}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// imap logs in as the admin and runs commands, one per tag, returning the
// tagged completion of each.
func (c *cyrus) imap(t testing.TB, commands ...string) []string {
	t.Helper()
	conn, err := net.Dial("tcp", c.imapAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	br.ReadString('\n')
	run := func(tag, cmd string) string {
		fmt.Fprintf(conn, "%s %s\r\n", tag, cmd)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("IMAP %s: %v", cmd, err)
			}
			if strings.HasPrefix(line, tag+" ") {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	if r := run("L", "LOGIN "+cyrusAdmin+" "+cyrusPassword); !strings.HasPrefix(r, "L OK") {
		t.Fatalf("IMAP LOGIN: %s", r)
	}
	var out []string
	for i, cmd := range commands {
		out = append(out, run(fmt.Sprintf("T%d", i), cmd))
	}
	run("Z", "LOGOUT")
	return out
}

// imapOK is imap for commands that must all succeed.
func (c *cyrus) imapOK(t testing.TB, commands ...string) {
	t.Helper()
	for i, r := range c.imap(t, commands...) {
		if !strings.Contains(r, " OK ") {
			t.Fatalf("IMAP %s on %s: %s", commands[i], c.name, r)
		}
	}
}

// undump writes n mailboxes (user.u000000 and on, as an admin CREATE
// would make them) straight into the instance's mailboxes.db with
// ctl_mboxlist -u: no MUPDATE traffic, for bulk push tests.
func (c *cyrus) undump(t testing.TB, n int) {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("{")
	for i := range n {
		if i > 0 {
			sb.WriteString(",\n")
		}
		owner := fmt.Sprintf("u%06d", i)
		fmt.Fprintf(&sb, `"user.%s":{"mtime":"1700000000","uidvalidity":"%d","createdmodseq":"1","foldermodseq":"1",`+
			`"mbtype":"e","partition":"default","server":null,"acl":{"%s":"lrswipkxtecdan"},"uniqueid":"roost-%d",`+
			`"legacy_specialuse":null,"name_history":[]}`, owner, 1700000000+i, owner, i)
	}
	sb.WriteString("}\n")
	cmd := exec.Command(filepath.Join(cyrusBin, "ctl_mboxlist"), "-C", c.conf("imapd.conf"), "-u")
	cmd.Stdin = strings.NewReader(sb.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ctl_mboxlist -u: %v\n%s", err, out)
	}
}
