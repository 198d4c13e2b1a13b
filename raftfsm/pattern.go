package raftfsm

import "strings"

// Pattern is an IMAP LIST pattern (RFC 3501 §6.3.8) over internal mailbox
// names: '*' matches any run of bytes, '%' any run without the hierarchy
// separator '.'. Every other byte matches itself.
type Pattern struct {
	pat string // immutable
}

// MaxPatternLen bounds a pattern, which keeps matching cheap.
const MaxPatternLen = 1024

// NewPattern compiles a pattern. The empty pattern matches everything.
func NewPattern(p string) (*Pattern, error) {
	if len(p) > MaxPatternLen {
		return nil, ErrInvalid
	}
	return &Pattern{pat: p}, nil
}

// Prefix returns the literal bytes before the first wildcard: every name
// that matches starts with them.
func (p *Pattern) Prefix() string {
	if i := strings.IndexAny(p.pat, "*%"); i >= 0 {
		return p.pat[:i]
	}
	return p.pat
}

// Match reports whether name matches the pattern.
func (p *Pattern) Match(name string) bool {
	if p.pat == "" || p.pat == "*" {
		return true
	}
	// cur[j] says whether name[:j] matches the pattern read so far. One
	// row per pattern byte keeps this O(len(pat)·len(name)) with no
	// backtracking blow-up.
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := 0; i < len(p.pat); i++ {
		c := p.pat[i]
		switch c {
		case '*', '%':
			reach := false
			for j := 0; j <= len(name); j++ {
				if cur[j] {
					reach = true
				} else if c == '%' && j > 0 && name[j-1] == '.' {
					reach = false
				}
				next[j] = reach
			}
		default:
			next[0] = false
			for j := 1; j <= len(name); j++ {
				next[j] = cur[j-1] && name[j-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}
