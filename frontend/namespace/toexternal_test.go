package namespace

import "testing"

// toExternalCase is one row: internal may hold "{d}", the user's domain
// prefix; want is written with '/' and converted for the netnews separator
// unless tagged "dot"; ok false means Cyrus has no name for it.
type toExternalCase struct {
	internal, want string
	ok             bool
	tags           string
}

// altToExternal follows mbname_extname's altnamespace branch.
var altToExternal = []toExternalCase{
	{internal: "{d}user.jane", want: "INBOX", ok: true},
	{internal: "{d}user.jane.Sent", want: "Sent", ok: true},
	{internal: "{d}user.jane.a^b", want: "a.b", ok: true},
	{internal: "{d}user.jane..Sent", want: "Sent", ok: true},
	// Only an exact-case INBOX with children stays beside INBOX; any
	// other spelling, or the bare level, goes under altprefix, as do
	// levels named like a prefix.
	{internal: "{d}user.jane.INBOX.Sent", want: "INBOX/Sent", ok: true},
	{internal: "{d}user.jane.INBOX", want: "Alt Folders/INBOX", ok: true},
	{internal: "{d}user.jane.Inbox", want: "Alt Folders/Inbox", ok: true},
	{internal: "{d}user.jane.Inbox.x", want: "Alt Folders/Inbox/x", ok: true},
	{internal: "{d}user.jane.Other Users", want: "Alt Folders/Other Users", ok: true},
	{internal: "{d}user.jane.Shared Folders.x", want: "Alt Folders/Shared Folders/x", ok: true},
	{internal: "{d}user.jane.Alt Folders", want: "Alt Folders/Alt Folders", ok: true},
	{internal: "{d}user.jane.user", want: "user", ok: true},
	{internal: "{d}user.john", want: "Other Users/john", ok: true},
	{internal: "{d}user.john.a^b", want: "Other Users/john/a.b", ok: true},
	{internal: "{d}user.john^doe", want: "Other Users/john.doe", ok: true},
	{internal: "{d}news", want: "Shared Folders/news", ok: true},
	{internal: "{d}news.a^b", want: "Shared Folders/news/a.b", ok: true},
	{internal: "{d}INBOX", want: "Shared Folders/INBOX", ok: true},
	// A lone "user" stands for the other-users prefix.
	{internal: "{d}user", want: "Other Users", ok: true},
	// Deleted mailboxes have no altnamespace name.
	{internal: "{d}DELETED.user.jane.Sent.5F3A2B1C"},
	{internal: "{d}DELETED.news.5F3A2B1C"},
	// mbname_from_intname drops prefix and suffix even when the suffix
	// reads as zero, leaving jane's INBOX.
	{internal: "{d}DELETED.user.jane.x", want: "INBOX", ok: true},
}

// stdToExternal follows mbname_extname's standard-namespace branch.
var stdToExternal = []toExternalCase{
	{internal: "{d}user.jane", want: "INBOX", ok: true},
	{internal: "{d}user.jane.Sent", want: "INBOX/Sent", ok: true},
	{internal: "{d}user.jane.INBOX", want: "INBOX/INBOX", ok: true},
	{internal: "{d}user.jane.a^b", want: "INBOX/a.b", ok: true},
	{internal: "{d}user.john.Sent", want: "user/john/Sent", ok: true},
	{internal: "{d}user.john^doe", want: "user/john.doe", ok: true},
	{internal: "{d}news", want: "news", ok: true},
	{internal: "{d}Other Users.x", want: "Other Users/x", ok: true},
	{internal: "{d}user", want: "user", ok: true},
	// A shared name starting with INBOX cannot be told from the user's.
	{internal: "{d}INBOX"},
	{internal: "{d}inbox.x"},
	// Deleted mailboxes, the user's own included, show under "user".
	{internal: "{d}DELETED.user.jane.Sent.5F3A2B1C", want: "DELETED/user/jane/Sent/5F3A2B1C", ok: true},
	{internal: "{d}DELETED.user.john.5F3A2B1C", want: "DELETED/user/john/5F3A2B1C", ok: true},
	{internal: "{d}DELETED.news.5F3A2B1C", want: "DELETED/news/5F3A2B1C", ok: true},
	{internal: "{d}DELETED.news.5f3a2b1c", want: "DELETED/news/5F3A2B1C", ok: true},
}

// commonToExternal holds the domain rules: without crossdomains find_p
// lists only the user's domain.
var commonToExternal = []toExternalCase{
	{internal: ""},
	{internal: "other.org!user.carl"},
	{internal: "other.org!news"},
	{internal: "user.john", tags: "virt"},
	{internal: "news", tags: "virt"},
	{internal: "example.com!user.jane", tags: "novirt"},
	{internal: "example.org!user.jane", tags: "virt"},
}

func TestToExternal(t *testing.T) {
	for _, c := range allCombos() {
		rows := stdToExternal
		if c.alt {
			rows = altToExternal
		}
		rows = append(rows[:len(rows):len(rows)], commonToExternal...)
		t.Run(c.String(), func(t *testing.T) {
			v := c.view(t)
			for _, tc := range rows {
				if !c.tagged(tc.tags) {
					continue
				}
				internal := c.internal(tc.internal)
				want := ""
				if tc.ok {
					want = c.ext(tc.want, tc.tags)
				}
				if got, ok := v.ToExternal(internal); got != want || ok != tc.ok {
					t.Errorf("ToExternal(%q) = %q, %v, want %q, %v", internal, got, ok, want, tc.ok)
				}
			}
		})
	}
}

// TestToExternalDefaultDomain checks that an entry spelled with
// defaultdomain is read as one without a domain (mbname_from_intname).
func TestToExternalDefaultDomain(t *testing.T) {
	ns := mustNew(t, virtConfig())
	tests := []struct {
		userid, internal, want string
	}{
		{"bob", "user.bob", "INBOX"},
		{"bob", "example.org!user.bob.Sent", "Sent"},
		{"bob", "example.org!news", "Shared Folders/news"},
		{"bob", "user.jane", "Other Users/jane"},
	}
	for _, tc := range tests {
		if got, ok := ns.User(tc.userid).ToExternal(tc.internal); got != tc.want || !ok {
			t.Errorf("User(%q).ToExternal(%q) = %q, %v, want %q, true", tc.userid, tc.internal, got, ok, tc.want)
		}
	}
}

// Canonical external names, which Cyrus both reads and writes back
// unchanged: ToExternal(ToInternal(x)) == x for each, in every combination.
var (
	altCanonical = []string{
		"INBOX", "Sent", "Sent/2024", "a.b", "user", "user/john", "INBOX/Sent", "INBOX/INBOX",
		"Alt Folders/INBOX", "Alt Folders/Inbox", "Alt Folders/Other Users/x",
		"Alt Folders/Shared Folders", "Alt Folders/Alt Folders",
		"Other Users/john", "Other Users/john/Sent", "Other Users/john.doe/a.b",
		"Shared Folders/news", "Shared Folders/news/a.b", "Shared Folders/INBOX",
		"DELETED/x/5F3A2B1C", "&AMk-t&AOk-",
	}
	stdCanonical = []string{
		"INBOX", "INBOX/Sent", "INBOX/INBOX", "INBOX/a.b", "INBOX/Other Users",
		"user/john", "user/john/Sent", "user/john.doe/a.b",
		"news", "news/a.b", "Other Users", "Other Users/john", "Shared Folders",
		"DELETED/user/jane/Sent/5F3A2B1C", "DELETED/news/5F3A2B1C", "&AMk-t&AOk-",
	}
)

func TestRoundTrip(t *testing.T) {
	for _, c := range allCombos() {
		names := stdCanonical
		if c.alt {
			names = altCanonical
		}
		t.Run(c.String(), func(t *testing.T) {
			v := c.view(t)
			for _, name := range names {
				ext := c.ext(name, "")
				internal, err := v.ToInternal(ext)
				if err != nil {
					t.Errorf("ToInternal(%q) = %v", ext, err)
					continue
				}
				if got, ok := v.ToExternal(internal); got != ext || !ok {
					t.Errorf("ToExternal(%q) = %q, %v, want %q, true", internal, got, ok, ext)
				}
			}
		})
	}
}

// TestRoundTripSpellings checks that the other spellings Cyrus accepts
// reach the same mailbox as the canonical one.
func TestRoundTripSpellings(t *testing.T) {
	tests := []struct {
		alt             bool
		spelling, canon string
	}{
		{true, "inbox", "INBOX"},
		{true, "inbox/Sent", "INBOX/Sent"},
		{true, "Alt Folders", "INBOX"},
		{true, "Alt Folders/Sent", "Sent"},
		{true, "Other Users/jane", "INBOX"},
		{true, "Other Users/jane/Sent", "Sent"},
		{true, "Shared Folders/user/john", "Other Users/john"},
		{true, "//Sent//", "Sent"},
		{false, "inbox/Sent", "INBOX/Sent"},
		{false, "user/jane/Sent", "INBOX/Sent"},
		{false, "/INBOX//Sent", "INBOX/Sent"},
	}
	for _, tc := range tests {
		for _, c := range allCombos(tc.alt) {
			v := c.view(t)
			spelling, canon := c.ext(tc.spelling, ""), c.ext(tc.canon, "")
			a, errA := v.ToInternal(spelling)
			b, errB := v.ToInternal(canon)
			if a != b || errA != nil || errB != nil {
				t.Errorf("%v: ToInternal(%q) = %q, %v, want %q (as %q)", c, spelling, a, errA, b, canon)
			}
		}
	}
}
