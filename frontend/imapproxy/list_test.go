package imapproxy

import "testing"

func TestMatchList(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "INBOX", true},
		{"*", "Other Users/jane/Shared", true},
		{"%", "INBOX", true},
		{"%", "Other Users/jane", false},
		{"Other Users/%", "Other Users/jane", true},
		{"Other Users/%", "Other Users/jane/Shared", false},
		{"Other Users/%/%", "Other Users/jane/Shared", true},
		{"inbox", "INBOX", true},
		{"inbox/%", "INBOX/Sent", true},
		{"Inbox*", "INBOXes", false},
		{"S*t", "Sent", true},
		{"S%t", "Se/nt", false},
		{"", "INBOX", false},
		{"Sent", "Sent", true},
		{"Sent", "sent", false},
	} {
		if got := matchList(tc.pattern, tc.name, '/'); got != tc.want {
			t.Errorf("matchList(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}
