package raftfsm

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// testDBName builds the Cyrus ≥3.6 mailboxes.db key of an internal name
// (mbname_dbname): the domain and 0x1D if there is a domain, then the rest
// with '.' turned into 0x1F and '^' into '.'. It is written independently
// of order.go on purpose.
func testDBName(name string) string {
	var b strings.Builder
	rest := name
	if dom, after, ok := strings.Cut(name, "!"); ok {
		b.WriteString(dom)
		b.WriteString("\x1d")
		rest = after
	}
	b.WriteString(strings.NewReplacer(".", "\x1f", "^", ".").Replace(rest))
	return b.String()
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func TestCompareCyrus(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		// The hierarchy separator sorts below every printable byte.
		{"user.jane", "user.jane", 0},
		{"user.jane", "user.jane.Sent", -1},
		{"user.jane.Sent", "user.jane-x", -1},
		{"user.jane-x", "user.janex", -1},
		{"user.jane", "user.janex", -1},
		{"user.jane.a", "user.jane-a", -1},
		{"user.jane-a", "user.jane.a", 1},
		{"user.jane.Sent", "user.jane", 1},
		{"user.jane.zzz", "user.jane ", -1}, // '.' even below space
		{"user.jane.Sent", "user.janeSent", -1},
		// Issue #4946: byte order says '-' < '.', Cyrus order the opposite.
		{"user.x.2023.65E", "user.x.2023-09", -1},
		// '^' (an escaped dot) sorts as '.', so above '-' and below '/'.
		{"user.jane^x", "user.jane-x", 1},
		{"user.jane^x", "user.jane/x", -1},
		{"user.jane^x", "user.jane.x", 1},
		{"user.jane^x", "user.janex", -1},
		{"user.a^b", "user.a^b", 0},
		// Domains: the domain, then 0x1D, then the mapped rest.
		{"example.com!user.a", "example.com!user.b", -1},
		{"example.com!user.a", "example.com!user.a.Sent", -1},
		{"example.com!user.a.Sent", "example.com!user.a-x", -1},
		{"example.com!user.b", "example.net!user.a", -1},
		{"example.com!user.zzz", "example.com.au!user.a", -1},
		// The '.' of a domain is kept as is: "example." + 'c' against
		// the mapped "example" 0x1F of a name without a domain.
		{"example.com!user.a", "example.foo", 1},
		{"example.com!user.a", "example", 1},
		{"example.com!user.a", "examplez", -1},
		{"example.com!user.a", "user.a", -1},
		{"e.org!user.a", "e.x", 1},
		{"ex!user.a", "ex.y", -1}, // 0x1D < 0x1F
		{"ex!user.a", "exa", -1},
		// Delayed-delete names are ordinary hierarchies under DELETED.
		{"DELETED.user.bob.Trash.65B7B6BC", "DELETED.user.bob.Trash.65B7B6BD", -1},
		{"DELETED.user.bob.Trash.65B7B6BC", "DELETED.user.bob.Trash", 1},
		{"DELETED.user.bob.Trash.65B7B6BC", "DELETED.user.bob.Trash-x", -1},
		{"DELETED.user.bob.Trash.65B7B6BC", "DELETEDX", -1},
		{"DELETED.user.bob.Trash.65B7B6BC", "user.bob.Trash", -1},
		{"example.com!DELETED.user.bob.65B7B6BC", "example.com!user.bob", -1},
		{"", "a", -1},
		{"", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+"|"+tt.b, func(t *testing.T) {
			if got := CompareCyrus(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareCyrus(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := CompareCyrus(tt.b, tt.a); got != -tt.want {
				t.Errorf("CompareCyrus(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
			if got, want := sign(strings.Compare(testDBName(tt.a), testDBName(tt.b))), tt.want; got != want {
				t.Errorf("test key order of (%q, %q) = %d, want %d (bad test case)", tt.a, tt.b, got, want)
			}
		})
	}
}

func TestCyrusKey(t *testing.T) {
	tests := []struct{ name, want string }{
		{"user.jane", "user\x1fjane"},
		{"user.jane^x.Sent", "user\x1fjane.x\x1fSent"},
		{"example.com!user.a.b", "example.com\x1duser\x1fa\x1fb"},
		{"example.com!user.a^b", "example.com\x1duser\x1fa.b"},
		{"a!b!c", "a\x1db!c"},
		{"DELETED.user.bob.Trash.65B7B6BC", "DELETED\x1fuser\x1fbob\x1fTrash\x1f65B7B6BC"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := cyrusKey(tt.name); got != tt.want {
			t.Errorf("cyrusKey(%q) = %q, want %q", tt.name, got, tt.want)
		}
		if got := testDBName(tt.name); got != tt.want {
			t.Errorf("testDBName(%q) = %q, want %q (bad test helper)", tt.name, got, tt.want)
		}
	}
}

// orderTestNames is a mix of everything that makes Cyrus order differ from
// byte order.
func orderTestNames() []string {
	var names []string
	locals := []string{
		"user.jane", "user.jane.Sent", "user.jane.Sent.2023", "user.jane-x",
		"user.janex", "user.jane.a", "user.jane-a", "user.jane^x", "user.jane^x.y",
		"user.jane/x", "user.jane x", "user.x.2023.65E", "user.x.2023-09",
		"shared", "shared.lists", "shared.lists.roost",
		"DELETED.user.bob.Trash.65B7B6BC", "DELETED.user.bob.Trash.65B7B6BD",
		"DELETED.user.bob", "DELETEDX", "e", "e.x", "ex.y", "exa", "example",
		"example.com", "example.foo", "user", "user.a", "user.a.b", "user.ab",
	}
	for _, dom := range []string{"", "example.com!", "example.net!", "example.com.au!", "e!", "ex!", "e.org!"} {
		for _, l := range locals {
			names = append(names, dom+l)
		}
	}
	return names
}

func TestCompareCyrusSortMatchesDBName(t *testing.T) {
	names := orderTestNames()
	want := slices.Clone(names)
	slices.SortFunc(want, func(a, b string) int { return strings.Compare(testDBName(a), testDBName(b)) })

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		got := slices.Clone(names)
		rng.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		slices.SortFunc(got, CompareCyrus)
		if !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("round %d: sorted by CompareCyrus [%d] = %q, want %q (dbname order)", round, i, got[i], want[i])
				}
			}
		}
	}

	// Every domain's names are contiguous.
	for _, dom := range []string{"example.com!", "example.net!", "example.com.au!", "e!", "ex!", "e.org!"} {
		first, last := -1, -1
		for i, n := range want {
			if strings.HasPrefix(n, dom) {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		for i := first; i <= last; i++ {
			if !strings.HasPrefix(want[i], dom) {
				t.Errorf("domain %q not contiguous: %q at %d between %d and %d", dom, want[i], i, first, last)
			}
		}
	}

	// All pairs agree with the key, and only equal names compare equal.
	for _, a := range names {
		for _, b := range names {
			got := CompareCyrus(a, b)
			if want := sign(strings.Compare(testDBName(a), testDBName(b))); got != want {
				t.Errorf("CompareCyrus(%q, %q) = %d, want %d", a, b, got, want)
			}
			if (got == 0) != (a == b) {
				t.Errorf("CompareCyrus(%q, %q) = %d, want 0 only for equal names", a, b, got)
			}
		}
	}
}

func TestCompareCyrusRandom(t *testing.T) {
	const alphabet = "a.^-!b\x20z"
	rng := rand.New(rand.NewPCG(3, 4))
	gen := func() string {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		a, b := gen(), gen()
		if got, want := CompareCyrus(a, b), sign(strings.Compare(testDBName(a), testDBName(b))); got != want {
			t.Fatalf("CompareCyrus(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}
