package imapproxy

// glob is a LIST pattern as Cyrus's lib/glob.c compiles it: * matches
// anything, % anything but the hierarchy separator, every other octet
// itself, case and all (Cyrus does not fold INBOX in patterns). A name
// matches when a prefix of it matches the whole pattern and ends at the
// name's end or at a separator; the longest such prefix is the match, so
// that "%" on "Other Users.jane.Shared" matches "Other Users", which LIST
// then shows as a \Noselect parent.
type glob struct {
	tokens []byte // '*' and '%' are wildcards, anything else a literal octet
	lit    []bool // lit[i]: tokens[i] is a literal, even if it is '*' or '%'
	sep    byte
}

func newGlob(pattern string, sep byte) *glob {
	g := &glob{sep: sep}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '*' && c != '%' {
			g.tokens, g.lit = append(g.tokens, c), append(g.lit, true)
			continue
		}
		// A run of wildcards is one: * if any of them is a *.
		j, star := i, false
		for j < len(pattern) && (pattern[j] == '*' || pattern[j] == '%') {
			star = star || pattern[j] == '*'
			j++
		}
		if star {
			c = '*'
		}
		g.tokens, g.lit = append(g.tokens, c), append(g.lit, false)
		i = j - 1
	}
	return g
}

// match returns the length of the longest prefix of name that matches,
// or -1.
func (g *glob) match(name string) int {
	n := len(g.tokens)
	// states[i]: the first i tokens have matched the name so far.
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	g.closure(cur)
	best := -1
	for pos := 0; ; pos++ {
		if cur[n] && (pos == len(name) || name[pos] == g.sep) {
			best = pos
		}
		if pos == len(name) {
			return best
		}
		c := name[pos]
		clear(next)
		any := false
		for i, ok := range cur {
			if !ok || i == n {
				continue
			}
			switch {
			case g.lit[i]:
				if g.tokens[i] == c {
					next[i+1], any = true, true
				}
			case g.tokens[i] == '*' || c != g.sep:
				next[i], any = true, true // the wildcard takes c and stays
			}
		}
		if !any {
			return best
		}
		g.closure(next)
		cur, next = next, cur
	}
}

// closure lets every wildcard match the empty string.
func (g *glob) closure(states []bool) {
	for i := range g.tokens {
		if states[i] && !g.lit[i] {
			states[i+1] = true
		}
	}
}

// full reports whether the whole of name matches.
func (g *glob) full(name string) bool { return g.match(name) == len(name) }
