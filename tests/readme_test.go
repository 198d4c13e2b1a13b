package tests

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roost-mail/roost/mupdatecompat"
)

// readmeBlocks returns the ```sh blocks of the README's section titled
// heading (up to the next section of the same level), in order.
func readmeBlocks(t *testing.T, heading string) []string {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			in = strings.TrimSpace(strings.TrimLeft(line, "#")) == heading
		case !in:
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(blocks) == 0 {
		t.Fatalf("README has no sh blocks under %q", heading)
	}
	return blocks
}

// readmeShells are the shells the README's blocks must paste into. An
// interactive zsh takes a # for a word (INTERACTIVE_COMMENTS is off by
// default), so the blocks carry no comments.
var readmeShells = []string{"bash", "zsh"}

// runReadme pastes blocks, in order, into one shell, with history
// expansion on as an interactive shell has it, in a directory holding
// bin/ with the binaries, and returns what it printed and that directory.
// Every process it starts is in its own process group, which is killed at
// the end.
func runReadme(t *testing.T, shell string, blocks []string, ports ...int) (string, string) {
	t.Helper()
	if _, err := exec.LookPath(shell); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (tests/cyrus/install.sh installs it)", shell)
		}
		t.Skipf("%s is not installed", shell)
	}
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("port %d, used by the README, is taken: %v", p, err)
			}
			t.Skipf("port %d, used by the README, is taken: %v", p, err)
		}
		l.Close()
	}
	roostd, roostctl := buildBinaries(t)
	dir := cyrusDir(t) // a Cyrus started by a block, as user cyrus, reaches it
	// Cyrus's master runs as a daemon, outside the shell's group: stop
	// every one a block started, however the test ends.
	t.Cleanup(func() {
		pids, _ := filepath.Glob(filepath.Join(dir, "murder", "*", "master.pid"))
		for _, f := range pids {
			if pid, err := os.ReadFile(f); err == nil {
				if n, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
					syscall.Kill(n, syscall.SIGTERM)
				}
			}
		}
	})
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	for _, b := range []string{roostd, roostctl, buildFrontend(t)} {
		if err := os.Symlink(b, filepath.Join(bin, filepath.Base(b))); err != nil {
			t.Fatal(err)
		}
	}
	// The blocks call the repository's own scripts.
	for _, sub := range []string{"deploy", "tests"} {
		abs, _ := filepath.Abs(filepath.Join("..", sub))
		if err := os.Symlink(abs, filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	script := strings.ReplaceAll(strings.Join(blocks, ""), "go build -o bin/ ./cmd/...\n", "")
	// zsh: no startup files, interactive (history expansion on), and no
	// job control, so that what it starts stays in its process group.
	args := []string{"-f", "-i", "+m"}
	if shell == "bash" {
		script = "set -o history -o histexpand\n" + script
		args = []string{"--norc", "--noprofile"}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A deadline, or the end of bash, ends everything it started: the
	// nodes it leaves running hold its output open.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	cmd.Wait()
	syscall.Kill(-pgid, syscall.SIGKILL)
	// The next walk-through takes the same ports once they are free.
	waitFor(t, "the README's ports to be free again", 10*time.Second, func() error {
		for _, p := range ports {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				return err
			}
			l.Close()
		}
		return nil
	})
	for _, bad := range []string{"command not found", "event not found", "syntax error", "parse error", "No such file", "usage:"} {
		if strings.Contains(out.String(), bad) {
			t.Errorf("the README's blocks printed %q:\n%s", bad, out.String())
		}
	}
	return out.String(), dir
}

// TestReadmeThreeNodes runs the README's three-node walk-through as it is
// written, then its conversion of n1's Raft store, pasted into each of
// readmeShells.
func TestReadmeThreeNodes(t *testing.T) {
	for _, shell := range readmeShells {
		t.Run(shell, func(t *testing.T) {
			blocks := append(readmeBlocks(t, "A three-node cluster on one machine"), readmeBlocks(t, "Converting a node's Raft store")...)
			// After the conversion, wait for n1 to serve again before the
			// shell ends and takes it down.
			blocks = append(blocks, "bin/roostctl --endpoints 127.0.0.1:4006 --timeout 30s mailbox get user.carol\n")
			out, dir := runReadme(t, shell, blocks,
				4005, 4006, 4007, 4008, 4015, 4016, 4017, 4018, 4025, 4026, 4027, 4028, 4035, 4036, 4037, 4038)
			for _, want := range []string{"is leader", "name:      user.jane", "joined n4", "removed n4", "ready", "roost_raft_leader", "name:      user.carol"} {
				if !strings.Contains(out, want) {
					t.Errorf("the walk-through's output lacks %q:\n%s", want, out)
				}
			}
			log, _ := os.ReadFile(filepath.Join(dir, "demo", "n1.log"))
			if !strings.Contains(string(log), "store=boltdb") {
				t.Errorf("n1's log does not show it back on BoltDB after convert-store:\n%s", log)
			}
		})
	}
}

// TestReadmeSecure runs the README's secure cluster as it is written,
// pasted into each of readmeShells.
func TestReadmeSecure(t *testing.T) {
	for _, shell := range readmeShells {
		t.Run(shell, func(t *testing.T) {
			out, _ := runReadme(t, shell, readmeBlocks(t, "Secure a cluster"),
				5005, 5006, 5007, 5008, 5015, 5016, 5017, 5018, 5025, 5026, 5027, 5028)
			for _, want := range []string{"is leader", "permission denied", "unauthenticated", "TLS certificate loaded"} {
				if !strings.Contains(out, want) {
					t.Errorf("the secure walk-through's output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestReadmeFirstScreen runs the README's first commands: its run command
// (a single node on built-in defaults, built once rather than by go run)
// and the roostctl calls that reach that node with no flags.
func TestReadmeFirstScreen(t *testing.T) {
	blocks := readmeBlocks(t, "Roost")
	if len(blocks) < 2 || !strings.HasPrefix(blocks[0], "go run ./cmd/roostd\n") {
		t.Fatalf("the README's first block is not the run command: %q", blocks)
	}
	start := "bin/roostd 2>roostd.log &\nuntil curl -sf 127.0.0.1:3908/readyz >/dev/null; do sleep 0.2; done\n"
	for _, shell := range readmeShells {
		t.Run(shell, func(t *testing.T) {
			out, dir := runReadme(t, shell, []string{start, strings.ReplaceAll(blocks[1], "go run ./cmd/roostctl", "bin/roostctl")},
				3905, 3906, 3907, 3908)
			if !strings.Contains(out, "user.jane") || !strings.Contains(out, "be1!default") {
				t.Errorf("the first screen's roostctl calls printed:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(dir, "roost-data")); err != nil {
				t.Errorf("roostd on its defaults made no ./roost-data: %v", err)
			}
		})
	}
}

// TestReadmeMurder runs the README's murder on one machine: three nodes,
// two real Cyrus backends, roost-frontend, curl as the IMAP and POP3
// client and swaks delivering over LMTP.
func TestReadmeMurder(t *testing.T) {
	needCyrus(t)
	for _, shell := range readmeShells {
		t.Run(shell, func(t *testing.T) {
			out, _ := runReadme(t, shell, readmeBlocks(t, "A murder on one machine"),
				6005, 6006, 6007, 6008, 6015, 6016, 6017, 6018, 6025, 6026, 6027, 6028, 6993, 6998,
				6924, 6910)
			for _, want := range []string{`"/" INBOX`, `"Other Users/jane/Shared"`, "from john", "user.jane.Shared", "backend2!default",
				"delivered through the frontend", "Subject: by LMTP"} {
				if !strings.Contains(out, want) {
					t.Errorf("the murder walk-through's output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestReadmeMigration runs the migration guide's import commands as
// written against a real Cyrus mupdate master standing in for
// old-master:3905, into a node on roostd's defaults.
func TestReadmeMigration(t *testing.T) {
	needCyrus(t)
	master := startCyrus(t, "readme-master", "master", "")
	mc, err := mupdatecompat.Dial(t.Context(), master.imapAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.Authenticate(cyrusAdmin, cyrusPassword); err != nil {
		t.Fatal(err)
	}
	if err := mc.Activate("user.migrated", "be1!default", "migrated\tlrswipkxtecdan\t"); err != nil {
		t.Fatal(err)
	}
	mc.Close()
	block := strings.Join(readmeBlocks(t, "Migrating a Cyrus murder from its mupdate master"), "")
	block = strings.ReplaceAll(block, "old-master:3905", master.imapAddr)
	block = strings.ReplaceAll(block, "roostctl import", "bin/roostctl import")
	start := "bin/roostd 2>roostd.log &\nuntil curl -sf 127.0.0.1:3908/readyz >/dev/null; do sleep 0.2; done\nprintf '" + cyrusPassword + "\\n' > pw\n"
	wait := "until bin/roostctl mailbox get user.migrated >/dev/null 2>&1; do sleep 0.2; done\nbin/roostctl mailbox get user.migrated\n"
	for _, shell := range readmeShells {
		t.Run(shell, func(t *testing.T) {
			out, _ := runReadme(t, shell, []string{start, block, wait}, 3905, 3906, 3907, 3908)
			for _, want := range []string{"would activate user.migrated", "1 to add", "location:  be1!default"} {
				if !strings.Contains(out, want) {
					t.Errorf("the migration commands' output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
