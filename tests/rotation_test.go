package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/auth"
	"google.golang.org/grpc/codes"
)

// serialAt opens a new TLS connection to addr with conf and returns the
// serial number, in hex, of the certificate the server presents.
func serialAt(addr string, conf *tls.Config) (string, error) {
	conn, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// serialOf returns the serial number, in hex, of the PEM certificate file.
func serialOf(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// TestCertificateRotation replaces node certificates and a users file
// under a running cluster while a client writes through a follower on
// one connection: new connections see the new certificate (on gRPC and on
// Raft), the writes never stop, and a corrupt replacement is refused while
// the node keeps serving with the certificate it had.
func TestCertificateRotation(t *testing.T) {
	ctx := context.Background()
	pki := newPKI(t)
	nodes := startThreeWith(t, "r", func(tn *testNode) {
		tn.pki = pki
		tn.reload = -1 // only on Reload, as on SIGHUP
		if tn.id == "r2" {
			tn.reload = 50 * time.Millisecond // notices changed files itself
		}
	})
	r1, r2 := nodes[0], nodes[1]
	var via *testNode
	for _, tn := range followersOf(nodes) {
		via = tn
	}
	mc := roostv1.NewMailboxServiceClient(pki.dial(t, via.grpcAddr, "writer", auth.RoleAdmin))
	wctx, stop := context.WithCancel(ctx)
	var writes atomic.Int64
	var writeErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; wctx.Err() == nil; i++ {
			_, err := mc.Activate(wctx, &roostv1.ActivateRequest{Name: fmt.Appendf(nil, "user.rot%06d", i), Location: []byte("be1!default")})
			if err != nil && wctx.Err() == nil {
				writeErr = err
				return
			}
			writes.Add(1)
		}
	})
	progress := func(what string) {
		t.Helper()
		from := writes.Load()
		waitFor(t, "writes after "+what, 10*time.Second, func() error {
			if writes.Load() < from+20 {
				return fmt.Errorf("%d writes", writes.Load()-from)
			}
			return nil
		})
	}
	client := pki.tlsConfig(t, "checker", auth.RoleAdmin)
	peer := pki.tlsConfig(t, "peer-checker", auth.RoleNode)
	progress("the start")

	// A new certificate for r1, taken on Reload (SIGHUP in roostd).
	certFile, _ := pki.issue(t, r1.id, auth.RoleNode)
	want := serialOf(t, certFile)
	if err := r1.n.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	for _, addr := range []string{r1.grpcAddr, r1.raftAddr} {
		conf := client
		if addr == r1.raftAddr {
			conf = peer
		}
		if got, err := serialAt(addr, conf); err != nil || got != want {
			t.Fatalf("after Reload, %s presents serial %s (%v), want %s", addr, got, err, want)
		}
	}
	progress("r1's new certificate")

	// r2 notices its new certificate without being told.
	certFile2, _ := pki.issue(t, r2.id, auth.RoleNode)
	want2 := serialOf(t, certFile2)
	waitFor(t, "r2 to present its new certificate", 10*time.Second, func() error {
		got, err := serialAt(r2.grpcAddr, client)
		if err == nil && got != want2 {
			err = fmt.Errorf("serial %s", got)
		}
		return err
	})
	progress("r2's new certificate")

	// A corrupt replacement is refused; r1 keeps the one it had.
	writeAtomic(t, certFile, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
	if err := r1.n.Reload(); err == nil {
		t.Fatal("Reload took a corrupt certificate")
	}
	if got, err := serialAt(r1.grpcAddr, client); err != nil || got != want {
		t.Fatalf("after a refused Reload, r1 presents serial %s (%v), want %s", got, err, want)
	}
	if _, err := r1.mailboxes().GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.rot000000")}); err != nil {
		t.Fatalf("r1 after a refused Reload: %v", err)
	}
	progress("a corrupt certificate")

	// A new user, taken from the users file on Reload.
	be3 := roostv1.NewMailboxServiceClient(pki.dial(t, r1.grpcAddr, "be3", 0, "pw3"))
	_, err := be3.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.rot000000")})
	wantCode(t, "be3 before it is in the users file", err, codes.Unauthenticated)
	users := filepath.Join(r1.dir, "users")
	old, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, users, append(old, "be3:{PLAIN}pw3:backend\n"...))
	r1.n.Reload() // the corrupt certificate is still refused; the users file loads
	if _, err := be3.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte("user.rot000000")}); err != nil {
		t.Fatalf("be3 after the users file's Reload: %v", err)
	}

	stop()
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("a write failed during the rotations: %v", writeErr)
	}
}

// TestRoostdPlaintextBeyondLoopback checks that roostd refuses to serve
// gRPC or Raft in plaintext beyond loopback unless told --insecure, and
// refuses half a TLS setup.
func TestRoostdPlaintextBeyondLoopback(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	for _, tc := range []struct {
		name string
		args func(p *proc) []string
		want []string
	}{
		{"gRPC on every interface", func(p *proc) []string {
			return []string{"--grpc-addr", "0.0.0.0" + p.grpc[strings.LastIndex(p.grpc, ":"):]}
		},
			[]string{"--grpc-addr", "beyond loopback", "--tls-cert", "--insecure"}},
		{"Raft on an empty host", func(p *proc) []string { return []string{"--raft-addr", p.raft[strings.LastIndex(p.raft, ":"):]} },
			[]string{"--raft-addr", "beyond loopback", "--tls-ca", "--insecure"}},
		{"a certificate without a CA", func(p *proc) []string { return []string{"--tls-cert", "node.crt", "--tls-key", "node.key"} },
			[]string{"--tls-cert, --tls-key and --tls-ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProc(t, "lo")
			p.start(t, roostd, tc.args(p)...)
			err := p.cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("roostd exited with %v, want status 2 (flags it cannot run with); log:\n%s", err, p.log)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.log.String(), w) {
					t.Errorf("roostd's message lacks %q:\n%s", w, p.log)
				}
			}
			if _, err := os.Stat(p.dir); err == nil {
				t.Error("a refused roostd created its data directory")
			}
		})
	}
	t.Run("--insecure", func(t *testing.T) {
		p := newProc(t, "lo")
		port := p.grpc[strings.LastIndex(p.grpc, ":"):]
		p.start(t, roostd, "--grpc-addr", "0.0.0.0"+port, "--grpc-advertise", p.grpc, "--insecure")
		waitFor(t, "a leader", 20*time.Second, func() error {
			_, err := ctl(t, roostctl, "--endpoints", p.grpc, "mailbox", "activate", "user.insecure", "be1!default")
			return err
		})
		p.term(t) // the log is read once the process has ended
		if !strings.Contains(p.log.String(), "--insecure") {
			t.Errorf("no warning about --insecure in the log:\n%s", p.log)
		}
	})
}

// TestRoostdSecure runs roostd with mutual TLS as the README's secure
// section does, and roostctl against it: with a certificate, with a
// password, with neither; then rotates the node's certificate with
// SIGHUP.
func TestRoostdSecure(t *testing.T) {
	roostd, roostctl := buildBinaries(t)
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	mustCtl(t, roostctl, "cert", "ca", "--dir", pkiDir)
	if _, err := ctl(t, roostctl, "cert", "ca", "--dir", pkiDir); err == nil {
		t.Error("cert ca made a second CA over the first")
	}
	mustCtl(t, roostctl, "cert", "issue", "--dir", pkiDir, "--name", "node1", "--role", "node", "--host", "127.0.0.1,localhost")
	mustCtl(t, roostctl, "cert", "issue", "--dir", pkiDir, "--name", "root", "--role", "admin")
	mustCtl(t, roostctl, "cert", "issue", "--dir", pkiDir, "--name", "fe1", "--role", "frontend")
	if _, err := ctl(t, roostctl, "cert", "issue", "--dir", pkiDir, "--name", "node2", "--role", "node"); err == nil {
		t.Error("cert issue made a node certificate without a host")
	}
	if _, err := ctl(t, roostctl, "cert", "issue", "--dir", pkiDir, "--name", "ca", "--role", "admin"); err == nil {
		t.Error("cert issue wrote over the CA's own files")
	}
	pw := filepath.Join(dir, "pw")
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(users, []byte("ops:{PLAIN}s3cret:admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := func(name string) string { return filepath.Join(pkiDir, name) }
	p := newProc(t, "node1")
	p.start(t, roostd, "--tls-cert", f("node1.crt"), "--tls-key", f("node1.key"), "--tls-ca", f("ca.crt"), "--users-file", users)
	ca := []string{"--endpoints", p.grpc, "--cacert", f("ca.crt")}
	asRoot := append(ca, "--cert", f("root.crt"), "--key", f("root.key"))
	waitFor(t, "a leader", 20*time.Second, func() error {
		_, err := ctl(t, roostctl, append(asRoot, "mailbox", "activate", "user.tls", "be1!default")...)
		return err
	})
	if out := mustCtl(t, roostctl, append(ca, "--user", "ops", "--password-file", pw, "mailbox", "get", "user.tls")...); !strings.Contains(out, "ACTIVE") {
		t.Errorf("mailbox get with a password printed %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(ca, "cluster", "status"), "unauthenticated"},
		{[]string{"--endpoints", p.grpc, "cluster", "status"}, "unavailable"},
		{append(ca, "--cert", f("fe1.crt"), "--key", f("fe1.key"), "mailbox", "delete", "user.tls"), "permission denied"},
		{append(ca, "--user", "ops", "mailbox", "get", "user.tls"), "--password-file"},
	} {
		_, err := ctl(t, roostctl, tc.args...)
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
			t.Errorf("roostctl %v = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// The rest gives every flag, which the environment must not
	// override.
	t.Setenv("ROOST_CACERT", f("ca.crt"))
	t.Setenv("ROOST_CERT", f("fe1.crt"))
	t.Setenv("ROOST_KEY", f("fe1.key"))
	out, err := ctl(t, roostctl, "--endpoints", p.grpc, "mailbox", "get", "user.tls")
	if err != nil || !strings.Contains(out, "ACTIVE") {
		t.Errorf("mailbox get with credentials from the environment = %q, %v", out, err)
	}

	old := serialOf(t, f("node1.crt"))
	mustCtl(t, roostctl, "cert", "issue", "--dir", pkiDir, "--name", "node1", "--role", "node", "--host", "127.0.0.1")
	want := serialOf(t, f("node1.crt"))
	if want == old {
		t.Fatal("cert issue kept the serial number")
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	client := &tls.Config{RootCAs: x509.NewCertPool()}
	caPEM, _ := os.ReadFile(f("ca.crt"))
	client.RootCAs.AppendCertsFromPEM(caPEM)
	waitFor(t, "the new certificate after SIGHUP", 10*time.Second, func() error {
		got, err := serialAt(p.grpc, client)
		if err == nil && got != want {
			err = fmt.Errorf("serial %s", got)
		}
		return err
	})
	mustCtl(t, roostctl, append(asRoot, "mailbox", "activate", "user.after", "be1!default")...)
	p.term(t)
}
