package namespace

import (
	"slices"
	"strings"
	"testing"
)

// fuzzUsers are the logins a fuzz input picks from.
var fuzzUsers = []string{"jane", "jane@example.com", "jane.doe", "bob", "admin@example.com", ""}

// fuzzView builds the view a fuzz input selects: bit 0 altnamespace, 1
// unixhierarchysep, 2 virtdomains, 3 crossdomains, 4
// crossdomains_onlyother, 5 an admin; user indexes fuzzUsers.
func fuzzView(t *testing.T, flags, user uint8) *View {
	cfg := Config{
		AltNamespace:          flags&1 != 0,
		UnixHierarchySep:      flags&2 != 0,
		CrossDomains:          flags&8 != 0,
		CrossDomainsOnlyOther: flags&16 != 0,
		DefaultDomain:         "example.org",
	}
	if flags&4 != 0 {
		cfg.VirtDomains = VirtDomainsUserID
	}
	ns := mustNew(t, cfg)
	userid := fuzzUsers[int(user)%len(fuzzUsers)]
	if flags&32 != 0 {
		return ns.Admin(userid)
	}
	return ns.User(userid)
}

// asymmetry is one reason why Cyrus itself does not read back a name it
// writes, with the test for it.
type asymmetry struct {
	why     string
	applies func(v *View, m *mbname, internal, external string) bool
}

// cyrusAsymmetries lists the reasons, each from imap/mboxname.c, for
// which the fuzz targets accept a name that does not round-trip.
func cyrusAsymmetries() []asymmetry {
	return []asymmetry{
		{"the name is not what mbname_intname prints for its parts, as a shared " +
			"DELETED.a.b.5fzz, parsed as deleted and reprinted",
			func(v *View, m *mbname, internal, _ string) bool { return m.internal(v.cfg()) != internal }},
		{"a lone shared user level (deleted or not) is written as userprefix or user, " +
			"which reads as a user without a name",
			func(_ *View, m *mbname, _, _ string) bool {
				return !m.isUser && len(m.boxes) == 1 && m.boxes[0] == "user"
			}},
		{"an empty but present domain (!news) prints like no domain, as strcmpsafe treats both alike",
			func(_ *View, m *mbname, _, _ string) bool { return m.hasDomain && m.domain == "" }},
		{"a deletion time with zero low 32 bits prints as 0 (%X of an unsigned), which is not deleted",
			func(_ *View, m *mbname, _, _ string) bool { return m.deleted != 0 && uint32(m.deleted) == 0 }},
		{"with crossdomains_onlyother a name of the user's domain gets no @domain, " +
			"so an @ already in its first level is read back as one",
			func(v *View, m *mbname, _, _ string) bool {
				return v.cross && v.cfg().CrossDomainsOnlyOther && v.sameDomain(m) &&
					strings.Contains(firstLevel(m), "@")
			}},
		{"an admin under virtdomains writes defaultdomain names without @domain yet reads any @ " +
			"as one, and a domain admin reads names without it as their own domain's",
			func(v *View, m *mbname, _, external string) bool {
				return v.adomns && !m.hasDomain && (v.user.hasDomain || strings.Contains(external, "@"))
			}},
		{"a domain holding @, written after an admin's name or a crossdomains level, " +
			"is split at its last @",
			func(v *View, m *mbname, _, _ string) bool {
				return (v.adomns || v.cross) && strings.Contains(m.domain, "@")
			}},
		{"a level or domain holding / is split by unixhierarchysep and refused by the netnews " +
			"separator (_array_from_extname)",
			func(_ *View, m *mbname, _, _ string) bool {
				return strings.Contains(m.domain+m.local+strings.Join(m.boxes, ""), "/")
			}},
		{"a crossdomains domain holding ^ is refused in a level with unixhierarchysep",
			func(v *View, m *mbname, _, _ string) bool {
				return v.cross && v.HierSep() == '/' && strings.Contains(m.domain, "^")
			}},
		{"an admin reads a first level equal to deletedprefix as deleted at any depth, " +
			"where mbname_from_intname needs three levels",
			func(v *View, m *mbname, _, _ string) bool {
				return v.admin && !m.isUser && m.deleted == 0 && len(m.boxes) > 0 &&
					m.boxes[0] == v.cfg().DeletedPrefix
			}},
		{"a non-admin reads a deleted name back only as the shared name spelled like its key, " +
			"which crossdomains' @domain spoils",
			func(v *View, m *mbname, _, _ string) bool { return !v.admin && v.cross && m.deleted != 0 }},
		{"an external name starting with \\ is read as a special-use name",
			func(_ *View, _ *mbname, _, external string) bool { return strings.HasPrefix(external, `\`) }},
	}
}

// cyrusAsymmetry reports whether one of cyrusAsymmetries applies.
func cyrusAsymmetry(v *View, internal, external string) bool {
	m := parseInternal(internal, v.cfg())
	for _, a := range cyrusAsymmetries() {
		if a.applies(v, &m, internal, external) {
			return true
		}
	}
	return false
}

// firstLevel is the level crossdomains writes "@domain" after.
func firstLevel(m *mbname) string {
	switch {
	case m.isUser:
		return m.local
	case len(m.boxes) > 0:
		return m.boxes[0]
	}
	return ""
}

// sameParts reports whether two names have the same parts.
func sameParts(a, b *mbname) bool {
	return a.domain == b.domain && a.hasDomain == b.hasDomain && a.local == b.local &&
		a.isUser == b.isUser && slices.Equal(a.boxes, b.boxes) && a.deleted == b.deleted
}

// FuzzRoundTrip checks that any name ToInternal accepts comes back from
// ToExternal as a name that leads to the same mailbox.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint8(3), uint8(0), "INBOX/Sent")
	f.Add(uint8(0), uint8(1), "user.john.a^b")
	f.Fuzz(func(t *testing.T, flags, user uint8, name string) {
		v := fuzzView(t, flags, user)
		internal, err := v.ToInternal(name)
		if err != nil {
			return
		}
		built, _ := v.parseExternal(name)
		if read := parseInternal(internal, v.cfg()); !sameParts(built, &read) {
			return // e.g. a '!' in a level, which mbname_from_intname takes for a domain
		}
		external, ok := v.ToExternal(internal)
		if !ok || cyrusAsymmetry(v, internal, external) {
			return
		}
		if back, err := v.ToInternal(external); back != internal || err != nil {
			t.Errorf("ToInternal(%q) = %q, %v, want %q (from ToInternal(%q))",
				external, back, err, internal, name)
		}
	})
}

// FuzzToExternal checks that an external name made from any internal name
// is a fixed point: reading it and writing it again gives it back.
func FuzzToExternal(f *testing.F) {
	f.Add(uint8(3), uint8(0), "user.jane.INBOX")
	f.Add(uint8(36), uint8(4), "example.com!DELETED.user.jane.Sent.5F3A2B1C")
	f.Fuzz(func(t *testing.T, flags, user uint8, internal string) {
		v := fuzzView(t, flags, user)
		external, ok := v.ToExternal(internal)
		if !ok || hasNUL(internal) || cyrusAsymmetry(v, internal, external) {
			return
		}
		back, err := v.ToInternal(external)
		if err != nil {
			t.Fatalf("ToInternal(%q) = %v (from ToExternal(%q))", external, err, internal)
		}
		if again, ok := v.ToExternal(back); again != external || !ok {
			t.Errorf("ToExternal(%q) = %q, %v, want %q (from ToExternal(%q))",
				back, again, ok, external, internal)
		}
	})
}

// FuzzRecipient checks that any address maps to a shared folder or to an
// INBOX, with a +detail below that INBOX.
func FuzzRecipient(f *testing.F) {
	for _, s := range []string{"jane@example.com", "jane+Lists@x", "+shared/news@x", "bb+a.b@other.org",
		"Jane+Entwürfe@EXAMPLE.org", "@", "+", "a+b+c@d@e", "x+&-@y"} {
		f.Add(s, uint8(6))
	}
	f.Fuzz(func(t *testing.T, addr string, flags uint8) {
		v := fuzzView(t, flags, 0)
		ns := v.ns
		r, err := ns.Recipient(addr, RecipientRules{PostUser: []string{"", "bb"}[flags>>7]})
		if err != nil {
			return
		}
		if r.Mailbox == "" {
			t.Fatalf("Recipient(%q) = %+v: no mailbox", addr, r)
		}
		if r.UserID == "" {
			if r.Detail != "" {
				t.Fatalf("Recipient(%q) = %+v: a shared folder with a detail", addr, r)
			}
			return
		}
		if !ns.IsInbox(r.Mailbox) {
			t.Fatalf("Recipient(%q) = %+v: Mailbox is not an INBOX", addr, r)
		}
		if r.Detail != "" && !strings.HasPrefix(r.Detail, r.Mailbox+".") {
			t.Fatalf("Recipient(%q) = %+v: the detail is not below the INBOX", addr, r)
		}
	})
}
