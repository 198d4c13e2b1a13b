package namespace

import (
	"errors"
	"testing"
)

// virtConfig is Cyrus 3.x with virtdomains and example.org as the default
// domain.
func virtConfig() Config {
	cfg := DefaultConfig()
	cfg.VirtDomains = VirtDomainsUserID
	cfg.DefaultDomain = "example.org"
	return cfg
}

// TestAdminToInternal follows mbname_from_extname for NAMESPACE_OPTION_ADMIN:
// never altnamespace, deletedprefix parsed (the hex suffix read by
// strtoul(…, 16)), and under virtdomains a trailing "@domain", defaulting
// to the admin's own domain.
func TestAdminToInternal(t *testing.T) {
	plain := mustNew(t, DefaultConfig())
	virt := mustNew(t, virtConfig())
	tests := []struct {
		v         *View
		ext, want string
		err       error
	}{
		{v: plain.Admin("admin"), ext: "INBOX", want: "user.admin"},
		{v: plain.Admin("admin"), ext: "user/jane/Sent", want: "user.jane.Sent"},
		{v: plain.Admin("admin"), ext: "Sent", want: "Sent"},
		{v: plain.Admin("admin"), ext: "Other Users/jane", want: "Other Users.jane"},
		{v: plain.Admin("admin"), ext: "DELETED/user/jane/Sent/5F3A2B1C", want: "DELETED.user.jane.Sent.5F3A2B1C"},
		{v: plain.Admin("admin"), ext: "DELETED/user/jane/Sent/5f3a2b1c", want: "DELETED.user.jane.Sent.5F3A2B1C"},
		{v: plain.Admin("admin"), ext: "DELETED/news/0x5F3A2B1C", want: "DELETED.news.5F3A2B1C"},
		// A suffix strtoul reads as zero is still removed, with the prefix.
		{v: plain.Admin("admin"), ext: "DELETED/user/jane/x", want: "user.jane"},
		{v: plain.Admin("admin"), ext: "DELETED", err: ErrNoMailbox},
		{v: plain.Admin("admin"), ext: "deleted/news/5F3A2B1C", want: "deleted.news.5F3A2B1C"},
		{v: plain.Admin("admin"), ext: "user/jane@example.com", want: "user.jane@example^com"},
		{v: virt.Admin("admin"), ext: "user/jane@example.com", want: "example.com!user.jane"},
		{v: virt.Admin("admin"), ext: "user/jane/Sent@example.com", want: "example.com!user.jane.Sent"},
		{v: virt.Admin("admin"), ext: "news@example.com", want: "example.com!news"},
		{v: virt.Admin("admin"), ext: "user/bob@example.org", want: "user.bob"},
		{v: virt.Admin("admin"), ext: "user/bob", want: "user.bob"},
		{v: virt.Admin("admin"), ext: "DELETED/user/jane/Sent/5F3A2B1C@example.com",
			want: "example.com!DELETED.user.jane.Sent.5F3A2B1C"},
		// A domain admin's names default to their own domain.
		{v: virt.Admin("admin@example.com"), ext: "user/jane", want: "example.com!user.jane"},
		{v: virt.Admin("admin@example.com"), ext: "INBOX", want: "example.com!user.admin"},
		{v: virt.Admin("admin@example.com"), ext: "news@other.org", want: "other.org!news"},
	}
	for _, tc := range tests {
		got, err := tc.v.ToInternal(tc.ext)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Admin(%q).ToInternal(%q) = %q, %v, want %q, %v",
				tc.v.UserID(), tc.ext, got, err, tc.want, tc.err)
		}
	}
}

// TestAdminToExternal follows mbname_extname for admins: deleted mailboxes
// keep deletedprefix and their hex suffix (printed as 32-bit %X), and under
// virtdomains every domain mailbox ends in "@domain".
func TestAdminToExternal(t *testing.T) {
	plain := mustNew(t, DefaultConfig())
	dot := mustNew(t, Config{VirtDomains: VirtDomainsOn})
	virt := mustNew(t, virtConfig())
	tests := []struct {
		v              *View
		internal, want string
		ok             bool
	}{
		{plain.Admin("admin"), "user.admin", "INBOX", true},
		{plain.Admin("admin"), "user.jane.Sent", "user/jane/Sent", true},
		{plain.Admin("admin"), "news.a^b", "news/a.b", true},
		{plain.Admin("admin"), "DELETED.user.jane.Sent.5F3A2B1C", "DELETED/user/jane/Sent/5F3A2B1C", true},
		{plain.Admin("admin"), "DELETED.news.0005F3A2B1C", "DELETED/news/5F3A2B1C", true},
		{plain.Admin("admin"), "DELETED.news.1005F3A2B1C", "DELETED/news/5F3A2B1C", true},
		{plain.Admin("admin"), "DELETED.user.admin.x.5F3A2B1C", "DELETED/user/admin/x/5F3A2B1C", true},
		// Without virtdomains a domain mailbox is not the admin's to see.
		{plain.Admin("admin"), "example.com!user.jane", "", false},
		{plain.Admin("admin"), "example.com!news", "", false},
		{virt.Admin("admin"), "example.com!user.jane", "user/jane@example.com", true},
		{virt.Admin("admin"), "example.com!news.a^b", "news/a.b@example.com", true},
		{virt.Admin("admin"), "example.org!user.bob", "user/bob", true},
		{virt.Admin("admin"), "example.com!DELETED.news.5F3A2B1C", "DELETED/news/5F3A2B1C@example.com", true},
		{virt.Admin("admin@example.com"), "example.com!user.admin", "INBOX@example.com", true},
		// The domain goes on raw, even with the netnews separator.
		{dot.Admin("admin"), "example.com!user.jane.a^b", "user.jane.a^b@example.com", true},
	}
	for _, tc := range tests {
		got, ok := tc.v.ToExternal(tc.internal)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Admin(%q).ToExternal(%q) = %q, %v, want %q, %v",
				tc.v.UserID(), tc.internal, got, ok, tc.want, tc.ok)
		}
	}
}

// crossConfig turns on crossdomains (and maybe crossdomains_onlyother) over
// virtConfig, with or without altnamespace.
func crossConfig(alt, onlyOther bool) Config {
	cfg := virtConfig()
	cfg.AltNamespace = alt
	cfg.CrossDomains = true
	cfg.CrossDomainsOnlyOther = onlyOther
	return cfg
}

// TestCrossDomains follows the crossdomains branches of mbname_from_extname
// and mbname_extname: other users and altnamespace shared folders carry
// "@domain" on their first level, a missing one meaning defaultdomain (or,
// with crossdomains_onlyother, the user's own domain).
func TestCrossDomains(t *testing.T) {
	tests := []struct {
		cfg           Config
		userid        string
		ext, internal string
		externalAgain string // ToExternal(internal), if not ext
	}{
		{crossConfig(true, false), "jane@example.com", "INBOX", "example.com!user.jane", ""},
		{crossConfig(true, false), "jane@example.com", "Sent", "example.com!user.jane.Sent", ""},
		{crossConfig(true, false), "jane@example.com", "Other Users/carl@other.org/x", "other.org!user.carl.x", ""},
		{crossConfig(true, false), "jane@example.com", "Other Users/bob", "user.bob", "Other Users/bob@example.org"},
		{crossConfig(true, false), "jane@example.com", "Other Users/bob@example.org", "user.bob", ""},
		{crossConfig(true, false), "jane@example.com", "Other Users/jane@example.com", "example.com!user.jane", "INBOX"},
		{crossConfig(true, false), "jane@example.com", "Shared Folders/news@other.org/a", "other.org!news.a", ""},
		{crossConfig(true, false), "jane@example.com", "Shared Folders/news", "news", "Shared Folders/news@example.org"},
		{crossConfig(true, false), "jane@example.com", "Shared Folders/news@example.com", "example.com!news", ""},
		{crossConfig(true, false), "bob", "Other Users/jane@example.com/Sent", "example.com!user.jane.Sent", ""},
		{crossConfig(true, true), "jane@example.com", "Other Users/bob", "example.com!user.bob", ""},
		{crossConfig(true, true), "jane@example.com", "Other Users/bob@example.org", "user.bob", ""},
		{crossConfig(true, true), "jane@example.com", "Shared Folders/news", "example.com!news", ""},
		{crossConfig(true, true), "jane@example.com", "Shared Folders/news@other.org", "other.org!news", ""},
		{crossConfig(false, false), "jane@example.com", "INBOX/Sent", "example.com!user.jane.Sent", ""},
		{crossConfig(false, false), "jane@example.com", "user/carl@other.org", "other.org!user.carl", ""},
		{crossConfig(false, false), "jane@example.com", "user/bob", "user.bob", "user/bob@example.org"},
		{crossConfig(false, false), "jane@example.com", "news", "example.com!news", ""},
		{crossConfig(false, true), "jane@example.com", "user/bob", "example.com!user.bob", ""},
	}
	for _, tc := range tests {
		v := mustNew(t, tc.cfg).User(tc.userid)
		got, err := v.ToInternal(tc.ext)
		if got != tc.internal || err != nil {
			t.Errorf("ToInternal(%q) = %q, %v, want %q", tc.ext, got, err, tc.internal)
			continue
		}
		want := tc.externalAgain
		if want == "" {
			want = tc.ext
		}
		if ext, ok := v.ToExternal(got); ext != want || !ok {
			t.Errorf("ToExternal(%q) = %q, %v, want %q, true", got, ext, ok, want)
		}
	}
}

// TestCrossDomainsHidden checks what stays invisible with crossdomains: in
// the standard namespace shared folders of other domains have no name
// (mbname_extname), and admins ignore crossdomains.
func TestCrossDomainsHidden(t *testing.T) {
	v := mustNew(t, crossConfig(false, false)).User("jane@example.com")
	if got, ok := v.ToExternal("other.org!news"); ok {
		t.Errorf("ToExternal(%q) = %q, %v, want \"\", false", "other.org!news", got, ok)
	}
	a := mustNew(t, crossConfig(true, false)).Admin("admin")
	if got, ok := a.ToExternal("user.bob"); got != "user/bob" || !ok {
		t.Errorf("Admin.ToExternal(%q) = %q, %v, want %q, true", "user.bob", got, ok, "user/bob")
	}
}
