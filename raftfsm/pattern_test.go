package raftfsm

import (
	"errors"
	"strings"
	"testing"
)

func mustPattern(t testing.TB, p string) *Pattern {
	t.Helper()
	pat, err := NewPattern(p)
	if err != nil {
		t.Fatalf("NewPattern(%q) = %v, want nil error", p, err)
	}
	return pat
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		// The empty pattern matches everything.
		{"", "", true},
		{"", "user.jane", true},
		{"", "example.com!user.jane.Sent", true},
		// '*' matches any run, separators included.
		{"*", "", true},
		{"*", "user.jane.Sent", true},
		{"user.*", "user.jane", true},
		{"user.*", "user.jane.Sent.2023", true},
		{"user.*", "user.", true},
		{"user.*", "user", false},
		{"user.*", "shared.user.jane", false},
		{"*.Sent", "user.jane.Sent", true},
		{"*.Sent", "user.jane.Sent.x", false},
		{"u*e*t", "user.jane.Sent", true},
		{"**", "a.b", true},
		{"*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		// '%' does not cross the hierarchy separator.
		{"%", "", true},
		{"%", "user", true},
		{"%", "user.jane", false},
		{"%", "example.com!user", false},
		{"%", "example!user", true},
		{"user.%", "user.jane", true},
		{"user.%", "user.", true},
		{"user.%", "user.jane.Sent", false},
		{"user.%.Sent", "user.jane.Sent", true},
		{"user.%.Sent", "user..Sent", true},
		{"user.%.Sent", "user.jane.x.Sent", false},
		{"user.%.Sent", "user.jane.Sent.x", false},
		{"user.%.Sent", "user.jane.Sentx", false},
		{"user.jane%", "user.jane", true},
		{"user.jane%", "user.janex", true},
		{"user.jane%", "user.jane-x^y", true},
		{"user.jane%", "user.jane.Sent", false},
		{"%.%", "a.b", true},
		{"%.%", "a.b.c", false},
		{"%%", "ab", true},
		{"%*", "a.b.c", true},
		{"*%", "a.b.c", true},
		{"%.*", "a.b.c", true},
		{"%.*", "abc", false},
		// '^' and '!' are ordinary bytes.
		{"user.jane^%", "user.jane^x", true},
		{"user.jane^%", "user.jane.x", false},
		{"example.com!user.%", "example.com!user.bob", true},
		{"example.com!user.%", "example.com!user.bob.Sent", false},
		{"%!user.bob", "example!user.bob", true},
		{"%!user.bob", "example.com!user.bob", false},
		// Literals match exactly, case-sensitively.
		{"user.jane", "user.jane", true},
		{"user.jane", "user.Jane", false},
		{"user.jane", "user.jane.Sent", false},
		{"user.jane", "user.jan", false},
		{"user.jane", "", false},
		{"a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.pat+"|"+tt.name, func(t *testing.T) {
			p := mustPattern(t, tt.pat)
			if got := p.Match(tt.name); got != tt.want {
				t.Errorf("Pattern(%q).Match(%q) = %v, want %v", tt.pat, tt.name, got, tt.want)
			}
			if got := refMatch(tt.pat, tt.name); got != tt.want {
				t.Errorf("refMatch(%q, %q) = %v, want %v (bad reference)", tt.pat, tt.name, got, tt.want)
			}
		})
	}
}

func TestPatternPrefix(t *testing.T) {
	tests := []struct{ pat, want string }{
		{"", ""},
		{"*", ""},
		{"%", ""},
		{"user.jane", "user.jane"},
		{"user.*", "user."},
		{"user.%.Sent", "user."},
		{"user.jane%", "user.jane"},
		{"example.com!user.%", "example.com!user."},
		{"user.*.%", "user."},
		{"user.%.*", "user."},
	}
	for _, tt := range tests {
		if got := mustPattern(t, tt.pat).Prefix(); got != tt.want {
			t.Errorf("Pattern(%q).Prefix() = %q, want %q", tt.pat, got, tt.want)
		}
	}
}

func TestNewPatternTooLong(t *testing.T) {
	if _, err := NewPattern(strings.Repeat("a", MaxPatternLen)); err != nil {
		t.Errorf("NewPattern(%d bytes) = %v, want nil error", MaxPatternLen, err)
	}
	if _, err := NewPattern(strings.Repeat("a", MaxPatternLen+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewPattern(%d bytes) = %v, want %v", MaxPatternLen+1, err, ErrInvalid)
	}
}

// refMatch is an independent, exponential-time, obviously correct matcher:
// '*' any run, '%' any run without '.', the empty pattern everything.
func refMatch(pat, name string) bool {
	if pat == "" {
		return true
	}
	return refMatchRec(pat, name)
}

func refMatchRec(pat, name string) bool {
	if pat == "" {
		return name == ""
	}
	switch pat[0] {
	case '*':
		for i := 0; i <= len(name); i++ {
			if refMatchRec(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	case '%':
		for i := 0; i <= len(name); i++ {
			if refMatchRec(pat[1:], name[i:]) {
				return true
			}
			if i < len(name) && name[i] == '.' {
				return false
			}
		}
		return false
	}
	return name != "" && name[0] == pat[0] && refMatchRec(pat[1:], name[1:])
}

func FuzzPatternMatch(f *testing.F) {
	seeds := []struct{ pat, name string }{
		{"", ""},
		{"", "user.jane"},
		{"*", "user.jane"},
		{"%", "user.jane"},
		{"%", "user"},
		{"user.%.Sent", "user.jane.Sent"},
		{"user.%.Sent", "user.jane.x.Sent"},
		{"user.*", "user.jane.Sent"},
		{"user.jane%", "user.janex"},
		{"%.%", "a.b.c"},
		{"*%*", "a.b"},
		{"example.com!user.%", "example.com!user.bob"},
		{"a%b*c", "a.b.c"},
		{"*.", "."},
	}
	for _, s := range seeds {
		f.Add(s.pat, s.name)
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		// The reference is exponential: keep inputs short.
		if len(pat) > 12 || len(name) > 24 {
			return
		}
		p, err := NewPattern(pat)
		if err != nil {
			t.Fatalf("NewPattern(%q) = %v, want nil error", pat, err)
		}
		got, want := p.Match(name), refMatch(pat, name)
		if got != want {
			t.Errorf("Pattern(%q).Match(%q) = %v, want %v", pat, name, got, want)
		}
		if got && !strings.HasPrefix(name, p.Prefix()) {
			t.Errorf("Pattern(%q).Match(%q) = true but name lacks Prefix() %q", pat, name, p.Prefix())
		}
	})
}
