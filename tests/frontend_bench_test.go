package tests

import (
	"fmt"
	"io"
	"runtime"
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
// backend and through roost-frontend, interleaved in the same run (the
// median of three rounds each); and the Go heap the frontend allocates
// to pass one 1 MB and one 50 MB message through FETCH:
//
//	go test -run XXX -bench Frontend -benchtime 1x ./tests/
func BenchmarkFrontend(b *testing.B) {
	m := startMurder(b)
	msgs := make([]string, 1000)
	for i := range msgs {
		msgs[i] = benchMessage(i, 20<<10)
	}
	login := func(addr string) *imapClient {
		c := dialIMAP(b, addr)
		c.ok("LOGIN john john-pw")
		return c
	}
	direct, proxied := login(m.be1.imapAddr), login(m.f.IMAPAddr())
	direct.ok("CREATE Bench")
	waitFor(b, "the frontend to know user.john.Bench", 30*time.Second, func() error {
		if _, ok := m.f.Cache().Lookup("user.john.Bench"); !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	appendAll(b, direct, "INBOX", msgs)
	for b.Loop() {
		var fetch, app [2][]time.Duration
		for range 3 {
			for k, c := range []*imapClient{direct, proxied} {
				c.ok("SELECT INBOX")
				start := time.Now()
				if n := fetchAll(b, c, "FETCH 1:1000 BODY.PEEK[]"); n < 1000*20<<10 {
					b.Fatalf("FETCH read %d octets", n)
				}
				fetch[k] = append(fetch[k], time.Since(start))
				start = time.Now()
				appendAll(b, c, "Bench", msgs)
				app[k] = append(app[k], time.Since(start))
			}
		}
		for k, name := range []string{"direct", "frontend"} {
			b.ReportMetric(median(fetch[k]).Seconds()*1000, "ms-fetch-"+name)
			b.ReportMetric(median(app[k]).Seconds()*1000, "ms-append-"+name)
		}
		b.ReportMetric(float64(median(fetch[0]))/float64(median(fetch[1])), "x-fetch-rate")
		b.ReportMetric(float64(median(app[0]))/float64(median(app[1])), "x-append-rate")
	}
	b.StopTimer()

	// The heap the frontend allocates for one big message: it streams.
	for _, size := range []int{1 << 20, 50 << 20} {
		direct.ok("SELECT Bench")
		appendAll(b, direct, "Bench", []string{benchMessage(0, size)})
		proxied.ok("SELECT Bench")
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n := fetchAll(b, proxied, "FETCH * BODY.PEEK[]")
		runtime.ReadMemStats(&after)
		if n < int64(size) {
			b.Fatalf("FETCH * read %d octets, want %d", n, size)
		}
		// The test's own reader allocates too; what grows with the
		// message is the frontend's.
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<10), fmt.Sprintf("KiB-alloc-%dMB", size>>20))
	}
}
