package mupdatecompat

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"
)

// recorder is a Metrics that keeps counts.
type recorder struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *recorder) add(key string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[key] += n
}

func (r *recorder) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.counts)
}

func (r *recorder) Connections(role string, d int) { r.add("conns "+role, d) }
func (r *recorder) ConnectionRefused()             { r.add("refused", 1) }
func (r *recorder) Login(ok bool)                  { r.add(fmt.Sprint("login ", ok), 1) }
func (r *recorder) Command(name, outcome, reason string) {
	r.add(name+" "+outcome+" "+reason, 1)
}
func (r *recorder) Streams(d int)      { r.add("streams", d) }
func (r *recorder) StreamLag(l uint64) { r.add("lag observed", 1) }

func TestMetrics(t *testing.T) {
	rec := &recorder{counts: map[string]int{}}
	addr, _ := testServerNamed(t, testUsers, "", func(c *Config) { c.Metrics = rec })
	converse(t, addr, append(append([]string{}, banner...),
		"C: X1 NOOP\r\n", `S: X1 BAD "Please login first"`,
		"C: A0 AUTHENTICATE \"PLAIN\" {12+}\r\nAGZlAHdyb25n\r\n", `S: A0 NO "authentication failed"`,
		"C: A1 AUTHENTICATE \"PLAIN\" {12+}\r\nAGZlAHB3Zg==\r\n", `S: A1 OK "Authenticated"`,
		"C: X2 ACTIVATE \"user.fe\" \"be1!default\" \"\"\r\n", `S: X2 NO "permission denied: this identity may only read"`,
		"C: X3 FIND \"user.fe\"\r\n", `S: X3 OK "Search completed"`,
		"C: X4 BOGUS\r\n", `S: X4 BAD "Unrecognized command"`,
		"C: Q LOGOUT\r\n", `S: Q OK "bye-bye"`,
	))
	want := map[string]int{
		"NOOP bad not_authenticated":            1,
		"login false":                           1,
		"AUTHENTICATE no authentication_failed": 1,
		"login true":                            1,
		"AUTHENTICATE ok ":                      1,
		"ACTIVATE no read_only":                 1,
		"FIND ok ":                              1,
		"unknown bad unknown_command":           1,
		"LOGOUT ok ":                            1,
		"conns none":                            0,
		"conns frontend":                        0,
	}
	// The connection's close is counted once the server has seen it.
	waitUntil(t, "the connection's close counted", func() bool { return rec.snapshot()["conns frontend"] == 0 })
	got := rec.snapshot()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
}

// waitUntil polls cond until it holds, for at most five seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}
