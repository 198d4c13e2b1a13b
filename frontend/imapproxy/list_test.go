package imapproxy

import "testing"

// TestGlob checks the match lengths of Cyrus's lib/glob.c: the longest
// prefix matching the whole pattern and ending at a separator or the end.
func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          int
	}{
		{"*", "INBOX", 5},
		{"*", "Other Users/jane/Shared", 23},
		{"%", "INBOX", 5},
		{"%", "Other Users/jane", 11},
		{"Other Users/%", "Other Users/jane", 16},
		{"Other Users/%", "Other Users/jane/Shared", 16},
		{"Other Users/%/%", "Other Users/jane/Shared", 23},
		{"Other Users", "Other Users/jane", 11},
		{"Other Users", "Other Usersx", -1},
		{"inbox", "INBOX", -1}, // Cyrus folds no case in patterns
		{"INBOX/%", "INBOX/Sent", 10},
		{"INBOX*", "INBOXes", 7},
		{"S*t", "Sent", 4},
		{"S*t", "Sent/Sub/t", 10},
		{"S%t", "Se/nt", -1},
		{"%*", "a/b", 3},
		{"*%", "a/b", 3},
		{"%%", "a/b", 1},
		{"", "INBOX", -1},
		{"Sent", "Sent", 4},
		{"Sent", "sent", -1},
		{"a*b", "a/b/c/b", 7},
		{"a%b", "axb/cb", 3},
	} {
		if got := newGlob(tc.pattern, '/').match(tc.name); got != tc.want {
			t.Errorf("glob %q on %q = %d, want %d", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestParseListArgs(t *testing.T) {
	for _, tc := range []struct {
		rest     string
		ext      bool
		sel, ret int
		patterns []string
	}{
		{` "" "*"`, false, 0, 0, []string{"*"}},
		{` "" %`, false, 0, 0, []string{"%"}},
		{` (SUBSCRIBED) "" "*"`, true, selSubscribed, retSubscribed, []string{"*"}},
		{` "" ("INBOX" "Sent*" "")`, true, 0, 0, []string{"INBOX", "Sent*"}},
		{` "" "*" RETURN (CHILDREN)`, true, 0, retChildren, []string{"*"}},
		{` "" % RETURN (STATUS (MESSAGES UNSEEN) SPECIAL-USE)`, true, 0, retStatus | retSpecialUse, []string{"%"}},
		{` (special-use recursivematch) "" *`, true, selSpecialUse | selRecursiveMatch, retSpecialUse, []string{"*"}},
		{` (remote) "" *`, true, selRemote, 0, []string{"*"}},
	} {
		a, err := parseListArgs([]byte(tc.rest))
		if err != nil {
			t.Errorf("%q: %v", tc.rest, err)
			continue
		}
		if a.extended != tc.ext || a.sel != tc.sel || a.ret != tc.ret || fmtList(a.patterns) != fmtList(tc.patterns) {
			t.Errorf("%q = %+v", tc.rest, a)
		}
	}
	for _, bad := range []string{``, ` ""`, ` "" "*" RETURN`, ` "" "*" RETURN (`, ` "" "*" EXTRA`, ` "" ("*"`, ` "" "*" RETURN (FROB)`,
		` "" "*" RETURN ((X))`, ` "" "*" RETURN (CHILDREN (X))`, ` (FROB) "" "*"`, ` (RECURSIVEMATCH) "" "*"`} {
		if _, err := parseListArgs([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func fmtList(s []string) string {
	out := ""
	for _, p := range s {
		out += "<" + p + ">"
	}
	return out
}

func TestCyrusAString(t *testing.T) {
	for in, want := range map[string]string{
		"INBOX": "INBOX", "Other Users": `"Other Users"`, "": `""`, "NIL": `"NIL"`,
		"a%b": "{3}\r\na%b", "a*b": `"a*b"`, "x]": "x]", "caf\xc3\xa9": "{5}\r\ncaf\xc3\xa9",
	} {
		if got := cyrusAString(in); got != want {
			t.Errorf("cyrusAString(%q) = %q, want %q", in, got, want)
		}
	}
}
