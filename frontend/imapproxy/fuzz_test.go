package imapproxy

import "testing"

// FuzzParseListArgs: any LIST arguments parse or fail, in bounded time,
// and what parses matches with Cyrus's glob without trouble.
func FuzzParseListArgs(f *testing.F) {
	for _, seed := range []string{
		` "" "*"`, ` "" %`, ` (SUBSCRIBED RECURSIVEMATCH) "" "A*"`, ` "" ("INBOX" "Sent*")`,
		` "" "*" RETURN (CHILDREN SUBSCRIBED)`, ` "" % RETURN (STATUS (MESSAGES UNSEEN) SPECIAL-USE)`,
		` "" "*" RETURN ((X))`, ` "" "*" RETURN (CHILDREN (X))`, ` "Other Users." "%"`, ` "" "a%*?b"`,
		` (special-use) "" * RETURN (METADATA (/shared/comment))`, ` "" "\"`, ` ((("`,
	} {
		f.Add(seed, "Other Users.jane.Shared")
	}
	f.Fuzz(func(t *testing.T, rest, name string) {
		a, err := parseListArgs([]byte(rest))
		if err != nil {
			return
		}
		if !a.extended && len(a.patterns) != 1 {
			t.Fatalf("%q: %d patterns without LIST-EXTENDED", rest, len(a.patterns))
		}
		for _, p := range a.patterns {
			g := newGlob(canonicalPattern(a.ref, p, '.'), '.')
			if n := g.match(name); n > len(name) {
				t.Fatalf("glob %q on %q matched %d octets", p, name, n)
			}
		}
	})
}
