package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pinTree moves process pid, every thread of it and every process
// descended from it to the CPUs in list (as taskset takes it, "0" or
// "1-3"); what they start later inherits the CPUs.
func pinTree(tb testing.TB, pid int, list string) {
	tb.Helper()
	for _, p := range append([]int{pid}, descendants(pid)...) {
		if out, err := exec.Command("taskset", "-a", "-c", "-p", list, strconv.Itoa(p)).CombinedOutput(); err != nil {
			tb.Fatalf("taskset %d to CPUs %s: %v\n%s", p, list, err, out)
		}
	}
}

// descendants are the processes below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		self, _ := strconv.Atoi(strings.Fields(s)[0])
		parent, _ := strconv.Atoi(fields[1])
		children[parent] = append(children[parent], self)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// masterPID is the pid of a Cyrus instance's master process.
func (c *cyrus) masterPID(tb testing.TB) int {
	tb.Helper()
	b, err := os.ReadFile(c.conf("master.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		tb.Fatalf("%s's master.pid: %v", c.name, err)
	}
	return pid
}
