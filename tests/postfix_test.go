package tests

import (
	"fmt"
	"net/smtp"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Debian's Postfix as a real MTA: an instance of its own, configured in a
// directory of the test's, relaying example.com over LMTP.
func needPostfix(t testing.TB) {
	t.Helper()
	_, err := os.Stat("/usr/sbin/postfix")
	switch {
	case err != nil && os.Getenv("CI") == "true":
		t.Fatalf("Postfix is not installed (%v); make test installs it", err)
	case err != nil:
		t.Skip("Postfix is not installed; make test installs it")
	case os.Getuid() != 0 && os.Getenv("CI") == "true":
		t.Fatal("Postfix's master runs as root only")
	case os.Getuid() != 0:
		t.Skip("Postfix's master runs as root only")
	}
}

// postfix is one running Postfix instance.
type postfix struct {
	dir      string // its configuration, queue and log
	smtpAddr string
}

// startPostfix starts Postfix with an SMTP listener of its own that
// relays mail for example.com to lmtpAddr.
func startPostfix(t testing.TB, lmtpAddr string) *postfix {
	t.Helper()
	needPostfix(t)
	dir := cyrusDir(t)
	smtpAddr := freePort(t)
	mainCF := []string{
		"compatibility_level = 3.6", "meta_directory = /etc/postfix",
		"queue_directory = " + dir + "/queue", "data_directory = " + dir + "/data",
		"maillog_file = " + dir + "/maillog", "maillog_file_prefixes = " + dir,
		"syslog_name = postfix-roost-test", "mail_owner = postfix", "setgid_group = postdrop",
		"inet_interfaces = 127.0.0.1", "inet_protocols = ipv4",
		"myhostname = mta.test", "mydomain = test", "myorigin = test", "mydestination =",
		"local_transport = error:no local delivery", "alias_maps =", "alias_database =",
		"relay_domains = example.com", "relay_transport = lmtp:inet:" + lmtpAddr,
		"mynetworks = 127.0.0.0/8", "smtpd_relay_restrictions = permit_mynetworks, reject",
		"biff = no", "append_dot_mydomain = no", "smtputf8_enable = no",
		// Mail the frontend tempfails is retried soon, not in minutes.
		"queue_run_delay = 1s", "minimal_backoff_time = 1s", "maximal_backoff_time = 2s",
	}
	// Every service out of a chroot, which would need copies of system
	// files inside the queue directory.
	masterCF := []string{smtpAddr + " inet n - n - - smtpd"}
	for _, s := range []string{"pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
		"qmgr unix n - n 1 1 qmgr", "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce",
		"defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify",
		"flush unix n - n 1000? 0 flush", "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp",
		"relay unix - - n - - smtp", "showq unix n - n - - showq", "error unix - - n - - error",
		"retry unix - - n - - error", "discard unix - - n - - discard", "lmtp unix - - n - - lmtp",
		"anvil unix - - n - 1 anvil", "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd"} {
		masterCF = append(masterCF, s)
	}
	for name, lines := range map[string][]string{"main.cf": mainCF, "master.cf": masterCF} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "queue"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if u, err := user.Lookup("postfix"); err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		os.Chown(filepath.Join(dir, "data"), uid, -1)
	}
	if out, err := exec.Command("/usr/sbin/postfix", "-c", dir, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("/usr/sbin/postfix", "-c", dir, "stop").CombinedOutput(); err != nil {
			t.Logf("postfix stop: %v\n%s", err, out)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "maillog"))
			t.Logf("Postfix's log:\n%s", log)
		}
	})
	waitFor(t, "Postfix's SMTP listener", 30*time.Second, func() error {
		c, err := smtp.Dial(smtpAddr)
		if err != nil {
			return err
		}
		return c.Quit()
	})
	return &postfix{dir: dir, smtpAddr: smtpAddr}
}

// queue is what Postfix still holds: "" when its queue is empty.
func (p *postfix) queue(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("/usr/sbin/postqueue", "-c", p.dir, "-j").CombinedOutput()
	if err != nil {
		t.Fatalf("postqueue: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestPostfixDeliversThroughFrontend has a real MTA relay a message for
// john (on backend1) and jane (on backend2) to roost-frontend's LMTP
// listener: each finds it in the INBOX on their own backend, once, and
// Postfix's queue is empty afterwards.
func TestPostfixDeliversThroughFrontend(t *testing.T) {
	m := startMurder(t)
	mta := startPostfix(t, m.f.LMTPAddr())
	msg := testMessage("relayed by postfix")
	if err := smtp.SendMail(mta.smtpAddr, nil, "sender@example.org", []string{"john@example.com", "jane@example.com"}, []byte(msg)); err != nil {
		t.Fatalf("handing the message to Postfix: %v", err)
	}
	for _, u := range [][2]string{{"john", "john-pw"}, {"jane", "jane-pw"}} {
		waitFor(t, u[0]+"'s INBOX to hold the message", 60*time.Second, func() error {
			if s := subjects(t, m.f.IMAPAddr(), u[0], u[1], "INBOX"); !slices.Contains(s, "relayed by postfix") {
				return fmt.Errorf("%s's INBOX holds %q", u[0], s)
			}
			return nil
		})
	}
	// Postfix is done with it, so nothing is coming twice.
	waitFor(t, "Postfix's queue to empty", 30*time.Second, func() error {
		if q := mta.queue(t); q != "" {
			return fmt.Errorf("Postfix still holds %s", q)
		}
		return nil
	})
	for _, u := range [][2]string{{"john", "john-pw"}, {"jane", "jane-pw"}} {
		if s := subjects(t, m.f.IMAPAddr(), u[0], u[1], "INBOX"); !slices.Equal(s, []string{"relayed by postfix"}) {
			t.Errorf("%s's INBOX holds %q, want the message once", u[0], s)
		}
	}
}
