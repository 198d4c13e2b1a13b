package namespace

import (
	"errors"
	"testing"
)

// toInternalCase is one row: ext is written with '/' and converted for the
// netnews separator unless tagged "dot"; want may hold "{d}", the user's
// domain prefix.
type toInternalCase struct {
	ext, want string
	err       error
	tags      string
}

// altToInternal follows mbname_from_extname's altnamespace branch.
var altToInternal = []toInternalCase{
	// INBOX alone, in any case, is the user's INBOX ("special case INBOX
	// case, because horrible").
	{ext: "INBOX", want: "{d}user.jane"},
	{ext: "inbox", want: "{d}user.jane"},
	{ext: "InBoX", want: "{d}user.jane"},
	// Everything not under a prefix belongs to the user.
	{ext: "Sent", want: "{d}user.jane.Sent"},
	{ext: "Sent/2024", want: "{d}user.jane.Sent.2024"},
	{ext: "user", want: "{d}user.jane.user"},
	{ext: "user/john", want: "{d}user.jane.user.john"},
	{ext: "DELETED/user/jane/Sent/5F3A2B1C", want: "{d}user.jane.DELETED.user.jane.Sent.5F3A2B1C"},
	// With children, INBOX is forced to upper case and kept as a level:
	// INBOX/Sent is not Sent.
	{ext: "INBOX/Sent", want: "{d}user.jane.INBOX.Sent"},
	{ext: "inbox/Sent", want: "{d}user.jane.INBOX.Sent"},
	// altprefix: the rest belongs to the user as is.
	{ext: "Alt Folders", want: "{d}user.jane"},
	{ext: "Alt Folders/INBOX", want: "{d}user.jane.INBOX"},
	{ext: "Alt Folders/Inbox", want: "{d}user.jane.Inbox"},
	{ext: "Alt Folders/Other Users", want: "{d}user.jane.Other Users"},
	// Prefixes compare case-sensitively (strcmpsafe).
	{ext: "alt folders/x", want: "{d}user.jane.alt folders.x"},
	{ext: "other users/john", want: "{d}user.jane.other users.john"},
	// userprefix: the next level is the owner, in the user's domain.
	{ext: "Other Users/john", want: "{d}user.john"},
	{ext: "Other Users/john/Shared", want: "{d}user.john.Shared"},
	{ext: "Other Users/jane/Sent", want: "{d}user.jane.Sent"},
	{ext: "Other Users/john.doe/a.b", want: "{d}user.john^doe.a^b"},
	{ext: "Other Users", err: ErrNoMailbox},
	// sharedprefix: no owner, so "user/john" below it is john's INBOX.
	{ext: "Shared Folders/news", want: "{d}news"},
	{ext: "Shared Folders/news/a.b", want: "{d}news.a^b"},
	{ext: "Shared Folders/INBOX", want: "{d}INBOX"},
	{ext: "Shared Folders/user/john", want: "{d}user.john"},
	{ext: "Shared Folders", err: ErrNoMailbox},
	// unixhierarchysep stores a level's '.' as '^' (_append_intbuf).
	{ext: "a.b", want: "{d}user.jane.a^b"},
	// strtok drops empty levels (strarray_split).
	{ext: "//Sent//x/", want: "{d}user.jane.Sent.x"},
	{ext: "/", err: ErrNoMailbox},
	// _array_from_extname refuses '^' with '/' and '/' with '.'.
	{ext: "a^b", err: ErrBadName, tags: "uhs"},
	{ext: "a^b", want: "{d}user.jane.a^b", tags: "dot"},
	{ext: "a/b", err: ErrBadName, tags: "dot"},
	{ext: "Other Users.jo/hn", err: ErrBadName, tags: "dot"},
}

// stdToInternal follows mbname_from_extname's standard-namespace branch.
var stdToInternal = []toInternalCase{
	{ext: "INBOX", want: "{d}user.jane"},
	{ext: "inbox", want: "{d}user.jane"},
	// Below INBOX everything is the user's, INBOX included.
	{ext: "INBOX/Sent", want: "{d}user.jane.Sent"},
	{ext: "inbox/Sent", want: "{d}user.jane.Sent"},
	{ext: "INBOX/INBOX", want: "{d}user.jane.INBOX"},
	{ext: "INBOX/a.b", want: "{d}user.jane.a^b"},
	{ext: "INBOX/Other Users", want: "{d}user.jane.Other Users"},
	{ext: "//INBOX//Sent", want: "{d}user.jane.Sent"},
	// "user" (case-sensitively) names another user.
	{ext: "user/john", want: "{d}user.john"},
	{ext: "user/john/Shared", want: "{d}user.john.Shared"},
	{ext: "user/jane/Sent", want: "{d}user.jane.Sent"},
	{ext: "user", err: ErrNoMailbox},
	{ext: "User/john", want: "{d}User.john"},
	// Anything else is shared, in the user's domain; the altnamespace
	// prefixes mean nothing here.
	{ext: "Sent", want: "{d}Sent"},
	{ext: "news/a.b", want: "{d}news.a^b"},
	{ext: "Other Users/john", want: "{d}Other Users.john"},
	{ext: "Shared Folders/news", want: "{d}Shared Folders.news"},
	// Only admins parse deletedprefix; for others this is a shared name,
	// which happens to be the deleted mailbox's key.
	{ext: "DELETED/user/jane/Sent/5F3A2B1C", want: "{d}DELETED.user.jane.Sent.5F3A2B1C"},
	// With '/', "INBOX.Sent" is one shared level.
	{ext: "INBOX.Sent", want: "{d}INBOX^Sent", tags: "uhs"},
	{ext: "INBOX.a^b", want: "{d}user.jane.a^b", tags: "dot"},
	{ext: "a^b", err: ErrBadName, tags: "uhs"},
	{ext: "a/b", err: ErrBadName, tags: "dot"},
}

// commonToInternal holds the errors every namespace shares.
var commonToInternal = []toInternalCase{
	{ext: "", err: ErrEmptyName},
	// A leading '\' asks for a special-use folder (mboxlist_find_specialuse).
	{ext: `\Sent`, err: ErrSpecialUse},
	{ext: "a\x00b", err: ErrBadName},
}

func TestToInternal(t *testing.T) {
	for _, c := range allCombos() {
		rows := stdToInternal
		if c.alt {
			rows = altToInternal
		}
		rows = append(rows[:len(rows):len(rows)], commonToInternal...)
		t.Run(c.String(), func(t *testing.T) {
			v := c.view(t)
			for _, tc := range rows {
				if !c.tagged(tc.tags) {
					continue
				}
				ext := c.ext(tc.ext, tc.tags)
				got, err := v.ToInternal(ext)
				want := ""
				if tc.err == nil {
					want = c.internal(tc.want)
				}
				if got != want || !errors.Is(err, tc.err) {
					t.Errorf("ToInternal(%q) = %q, %v, want %q, %v", ext, got, err, want, tc.err)
				}
			}
		})
	}
}

// TestToInternalUser covers userids: defaultdomain users carry no domain
// (mbname_from_userid drops it), and a '.' in a userid is stored as '^'.
func TestToInternalUser(t *testing.T) {
	virt := Config{UnixHierarchySep: true, AltNamespace: true,
		VirtDomains: VirtDomainsOn, DefaultDomain: "example.org"}
	tests := []struct {
		cfg       Config
		userid    string
		ext, want string
	}{
		{virt, "bob", "INBOX", "user.bob"},
		{virt, "bob", "Shared Folders/news", "news"},
		{virt, "bob@example.org", "Sent", "user.bob.Sent"},
		{virt, "jane@example.com", "Other Users/bob", "example.com!user.bob"},
		{virt, "jane.doe@example.com", "INBOX", "example.com!user.jane^doe"},
		{DefaultConfig(), "jane.doe", "Sent", "user.jane^doe.Sent"},
		{Config{}, "jane.doe", "INBOX.Sent", "user.jane^doe.Sent"},
		// Without virtdomains Cyrus still splits a userid at its last '@'.
		{DefaultConfig(), "jane@example.com", "INBOX", "example.com!user.jane"},
	}
	for _, tc := range tests {
		v := mustNew(t, tc.cfg).User(tc.userid)
		if got, err := v.ToInternal(tc.ext); got != tc.want || err != nil {
			t.Errorf("User(%q).ToInternal(%q) = %q, %v, want %q", tc.userid, tc.ext, got, err, tc.want)
		}
	}
}

// TestToInternalEmptyUser checks that a view without a userid has no INBOX:
// mbname_from_userid(NULL) gives no local part.
func TestToInternalEmptyUser(t *testing.T) {
	v := mustNew(t, DefaultConfig()).User("")
	if got, err := v.ToInternal("INBOX"); !errors.Is(err, ErrNoMailbox) {
		t.Errorf("ToInternal(%q) = %q, %v, want %v", "INBOX", got, err, ErrNoMailbox)
	}
	if got, err := v.ToInternal("Shared Folders/news"); got != "news" || err != nil {
		t.Errorf("ToInternal(%q) = %q, %v, want %q", "Shared Folders/news", got, err, "news")
	}
}
