package mupdatecompat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenTranscripts replays conversations of real Cyrus clients with
// a Roost node (testdata/*.txt): every C: line goes to a fresh server
// byte for byte, and every S: line must come back byte for byte.
func TestGoldenTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			addr, _ := testServerNamed(t, "admin:{PLAIN}secret:admin\n", "roost1")
			for _, c := range readTranscript(t, file) {
				replay(t, addr, c)
			}
		})
	}
}

// conversation is one connection's lines, in the order they happened.
type conversation struct {
	id    string
	lines []string // "C: ..." or "S: ..."
}

func readTranscript(t *testing.T, file string) []*conversation {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var order []*conversation
	byID := map[string]*conversation{}
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# ") {
			id, rest, ok := strings.Cut(line, " ")
			if !ok {
				t.Fatalf("bad transcript line %q", line)
			}
			c := byID[id]
			if c == nil {
				c = &conversation{id: id}
				byID[id] = c
				order = append(order, c)
			}
			c.lines = append(c.lines, rest)
		}
	}
	return order
}

func replay(t *testing.T, addr string, c *conversation) {
	t.Helper()
	script := make([]string, len(c.lines))
	for i, l := range c.lines {
		dir, text := l[:2], l[3:]
		if dir == "C:" && text != "<closed>" {
			text += "\r\n"
		}
		script[i] = dir + " " + text
	}
	converse(t, addr, script)
}
