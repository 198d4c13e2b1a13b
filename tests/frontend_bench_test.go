package tests

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roost-mail/roost/frontend/imapwire"
)

// message returns an RFC 5322 message of about size bytes.
func benchMessage(i, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: jane@example.com\r\nTo: john@example.com\r\nSubject: message %d\r\n\r\n", i)
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.String()
}

// fetchAll runs a FETCH on c and reads every literal to the end, without
// keeping it; it returns the octets of literals read.
func fetchAll(tb testing.TB, c *imapClient, command string) int64 {
	tb.Helper()
	c.n++
	tag := fmt.Sprintf("f%d", c.n)
	c.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	fmt.Fprintf(c.conn, "%s %s\r\n", tag, command)
	r := imapwire.NewResponseReader(c.br, nil)
	var octets int64
	start := true
	for {
		p, err := r.Next()
		if err != nil {
			tb.Fatalf("%s: %v", command, err)
		}
		if start {
			if resp, _ := imapwire.ParseResponse(p.Line); resp.Kind == imapwire.ResponseTagged && resp.Tag == tag {
				if resp.Status != "OK" {
					tb.Fatalf("%s = %s %s", command, resp.Status, resp.Text)
				}
				r.Discard()
				return octets
			}
		}
		if p.Literal != nil {
			n, err := io.Copy(io.Discard, p.Literal.Body)
			if err != nil {
				tb.Fatal(err)
			}
			octets += n
		}
		start = p.Literal == nil && !p.Partial
	}
}

// appendAll appends msgs to mailbox on c, each as a LITERAL+ literal.
func appendAll(tb testing.TB, c *imapClient, mailbox string, msgs []string) {
	tb.Helper()
	for _, m := range msgs {
		c.n++
		tag := fmt.Sprintf("a%d", c.n)
		c.conn.SetDeadline(time.Now().Add(40 * time.Second))
		fmt.Fprintf(c.conn, "%s APPEND %s {%d+}\r\n%s\r\n", tag, mailbox, len(m), m)
		for {
			l := c.line()
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					tb.Fatalf("APPEND: %s", l)
				}
				break
			}
		}
	}
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// BenchmarkFrontend measures, against one real Cyrus 3.6 backend, FETCH
// of 1,000 messages of about 20 KB and APPEND of 1,000, directly to the
// backend, through roost-frontend and through Cyrus's own frontend,
// interleaved in the same run (the median of fifteen rounds of FETCH and
// three of APPEND); and the
// peak resident memory of the roost-frontend process, which runs on its
// own (built without the race detector), after FETCH of one 1 MB and then
// one 50 MB message:
//
//	go test -run XXX -bench Frontend -benchtime 1x ./tests/
func BenchmarkFrontend(b *testing.B) {
	m := startMurder(b)
	fe := startFrontendProcess(b, m)
	cyrusFE := m.cyrusFrontend(b)
	msgs := make([]string, benchMessages)
	for i := range msgs {
		msgs[i] = benchMessage(i, 20<<10)
	}
	login := func(addr string) *imapClient {
		c := dialIMAP(b, addr)
		c.ok("LOGIN john john-pw")
		return c
	}
	direct, proxied, viaCyrus := login(m.be1.imapAddr), login(fe.imapAddr), login(cyrusFE.imapAddr)
	b.Logf("direct %s, roost-frontend %s, Cyrus frontend %s", m.be1.imapAddr, fe.imapAddr, cyrusFE.imapAddr)
	direct.ok("CREATE Bench")
	appendAll(b, direct, "INBOX", msgs)
	for b.Loop() {
		var fetch, app [3][]time.Duration
		clients := []*imapClient{direct, proxied, viaCyrus}
		// Each round starts with another client, so that none is always
		// first; FETCH is quick and noisy, so it gets more rounds.
		for round := range 15 {
			for i := range clients {
				k := (i + round) % len(clients)
				clients[k].ok("SELECT INBOX")
				start := time.Now()
				if n := fetchAll(b, clients[k], fmt.Sprintf("FETCH 1:%d BODY.PEEK[]", len(msgs))); n < int64(len(msgs))*20<<10 {
					b.Fatalf("FETCH read %d octets", n)
				}
				fetch[k] = append(fetch[k], time.Since(start))
			}
		}
		for round := range 3 {
			for i := range clients {
				k := (i + round) % len(clients)
				start := time.Now()
				appendAll(b, clients[k], "Bench", msgs)
				app[k] = append(app[k], time.Since(start))
			}
		}
		for k, name := range []string{"direct", "frontend", "cyrus"} {
			b.ReportMetric(median(fetch[k]).Seconds()*1000, "ms-fetch-"+name)
			b.ReportMetric(median(app[k]).Seconds()*1000, "ms-append-"+name)
		}
		b.ReportMetric(float64(median(fetch[0]))/float64(median(fetch[1])), "x-fetch-rate")
		b.ReportMetric(float64(median(app[0]))/float64(median(app[1])), "x-append-rate")
		b.ReportMetric(float64(median(fetch[0]))/float64(median(fetch[2])), "x-fetch-rate-cyrus")
		b.ReportMetric(float64(median(app[0]))/float64(median(app[2])), "x-append-rate-cyrus")
	}
	b.StopTimer()

	// The frontend's peak memory after one big message each: it streams.
	for _, size := range []int{1 << 20, 50 << 20} {
		direct.ok("SELECT Bench")
		appendAll(b, direct, "Bench", []string{benchMessage(0, size)})
		proxied.ok("SELECT Bench")
		if n := fetchAll(b, proxied, "FETCH * BODY.PEEK[]"); n < int64(size) {
			b.Fatalf("FETCH * read %d octets, want %d", n, size)
		}
		b.ReportMetric(float64(fe.peakRSS(b))/(1<<20), fmt.Sprintf("MiB-peak-rss-after-%dMB", size>>20))
	}
}

// frontendProcess is roost-frontend run as its own process.
type frontendProcess struct {
	cmd                          *exec.Cmd
	imapAddr, lmtpAddr, httpAddr string
}

// startFrontendProcess builds roost-frontend without the race detector
// and runs it in front of m's backends and cluster, as startMurder
// configures the in-process one, and waits for its first sync.
func startFrontendProcess(tb testing.TB, m *murder, more ...*cyrus) *frontendProcess {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "roost-frontend")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/roost-frontend").CombinedOutput(); err != nil {
		tb.Fatalf("go build roost-frontend: %v\n%s", err, out)
	}
	pw := writeSecret(tb, cyrusPassword)
	var endpoints []string
	for _, n := range m.nodes {
		endpoints = append(endpoints, n.grpcAddr)
	}
	f := &frontendProcess{imapAddr: freePort(tb), lmtpAddr: freePort(tb), httpAddr: freePort(tb)}
	args := []string{"--endpoints", strings.Join(endpoints, ","), "--imap-addr", f.imapAddr, "--lmtp-addr", f.lmtpAddr,
		"--http-addr", f.httpAddr, "--data-dir", filepath.Join(dir, "data"), "--proxy-user", cyrusAdmin,
		"--proxy-password-file", pw, "--admins", cyrusAdmin, "--unixhierarchysep=false", "--pprof"}
	f.cmd = exec.Command(bin, append(args, backendMapFlags(append([]*cyrus{m.be1, m.be2}, more...)...)...)...)
	if err := f.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.cmd.Process.Kill(); f.cmd.Wait() })
	waitReadyz(tb, "roost-frontend", f.httpAddr)
	return f
}

// cpuTime is the CPU time the process has used so far, every thread's
// (/proc/PID/stat utime and stime, in clock ticks of 10 ms).
func (f *frontendProcess) cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", f.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// peakRSS is the process's resident set high-water mark (VmHWM), in
// bytes.
func (f *frontendProcess) peakRSS(tb testing.TB) int64 {
	tb.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", f.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	tb.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// benchMessages is how many messages of 20 KB the rounds FETCH and APPEND.
const benchMessages = 1000
