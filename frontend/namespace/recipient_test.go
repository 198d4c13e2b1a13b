package namespace

import (
	"errors"
	"testing"
)

func TestRecipient(t *testing.T) {
	plain := &Config{UnixHierarchySep: true, AltNamespace: true}
	netnews := &Config{}
	virt := &Config{UnixHierarchySep: true, VirtDomains: VirtDomainsOn, DefaultDomain: "example.com"}
	for _, tc := range []struct {
		cfg   *Config
		rules RecipientRules
		addr  string
		want  Recipient
	}{
		{plain, RecipientRules{}, "jane@example.com", Recipient{UserID: "jane", Mailbox: "user.jane"}},
		{plain, RecipientRules{}, "jane", Recipient{UserID: "jane", Mailbox: "user.jane"}},
		{plain, RecipientRules{}, "Jane@Example.COM", Recipient{UserID: "jane", Mailbox: "user.jane"}},
		{plain, RecipientRules{KeepCase: true}, "Jane@example.com", Recipient{UserID: "Jane", Mailbox: "user.Jane"}},
		{plain, RecipientRules{}, "jane+Lists@example.com", Recipient{UserID: "jane", Mailbox: "user.jane", Detail: "user.jane.Lists"}},
		{plain, RecipientRules{}, "jane+a.b/c@example.com", Recipient{UserID: "jane", Mailbox: "user.jane", Detail: "user.jane.a^b.c"}},
		{netnews, RecipientRules{}, "jane+a.b@example.com", Recipient{UserID: "jane", Mailbox: "user.jane", Detail: "user.jane.a.b"}},
		{plain, RecipientRules{}, "john.doe@example.com", Recipient{UserID: "john.doe", Mailbox: "user.john^doe"}},
		{plain, RecipientRules{}, "jane+Entwürfe@x", Recipient{UserID: "jane", Mailbox: "user.jane", Detail: "user.jane.Entw&APw-rfe"}},
		{plain, RecipientRules{}, "jane+R&D@x", Recipient{UserID: "jane", Mailbox: "user.jane", Detail: "user.jane.R&-D"}},
		{plain, RecipientRules{}, "+shared/news@example.com", Recipient{Mailbox: "shared.news"}},
		{plain, RecipientRules{}, "+Shared@example.com", Recipient{Mailbox: "Shared"}},
		{plain, RecipientRules{PostUser: "bb"}, "bb+shared/news@example.com", Recipient{Mailbox: "shared.news"}},
		{virt, RecipientRules{}, "jane@example.com", Recipient{UserID: "jane", Mailbox: "user.jane"}},
		{virt, RecipientRules{}, "jane@other.org", Recipient{UserID: "jane@other.org", Mailbox: "other.org!user.jane"}},
		{virt, RecipientRules{}, "jane+x@Other.ORG", Recipient{UserID: "jane@other.org", Mailbox: "other.org!user.jane", Detail: "other.org!user.jane.x"}},
		// Cyrus compares the domain with defaultdomain before lower-casing it.
		{virt, RecipientRules{}, "jane@EXAMPLE.COM", Recipient{UserID: "jane@example.com", Mailbox: "example.com!user.jane"}},
		{virt, RecipientRules{}, "+news@other.org", Recipient{Mailbox: "other.org!news"}},
		{virt, RecipientRules{}, "+news@example.com", Recipient{Mailbox: "news"}},
	} {
		ns, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ns.Recipient(tc.addr, tc.rules)
		if err != nil || got != tc.want {
			t.Errorf("Recipient(%q, %+v) = %+v, %v; want %+v", tc.addr, tc.rules, got, err, tc.want)
		}
	}
}

func TestRecipientNoMailbox(t *testing.T) {
	ns, _ := New(nil)
	for _, addr := range []string{"", "@example.com", "+@example.com"} {
		if got, err := ns.Recipient(addr, RecipientRules{}); !errors.Is(err, ErrNoRecipient) {
			t.Errorf("Recipient(%q) = %+v, %v; want ErrNoRecipient", addr, got, err)
		}
	}
	// With a postuser, an empty local part is no user at all.
	if got, err := ns.Recipient("+shared@x", RecipientRules{PostUser: "bb"}); !errors.Is(err, ErrNoRecipient) {
		t.Errorf("Recipient(+shared@x, postuser bb) = %+v, %v; want ErrNoRecipient", got, err)
	}
}

func TestEncodeUTF7(t *testing.T) {
	for in, want := range map[string]string{
		"Sent": "Sent", "R&D": "R&-D", "Entwürfe": "Entw&APw-rfe", "日本語": "&ZeVnLIqe-",
		"a😀b": "a&2D3eAA-b", "\x01": "&AAE-",
	} {
		if got := encodeUTF7(in); got != want {
			t.Errorf("encodeUTF7(%q) = %q, want %q", in, got, want)
		}
	}
}
