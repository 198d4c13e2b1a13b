package namespace

import (
	"slices"
	"testing"
)

// TestParseInternal follows mbname_from_intname and mbname_intname.
func TestParseInternal(t *testing.T) {
	cfg := virtConfig().withDefaults()
	tests := []struct {
		internal  string
		domain    string
		hasDomain bool
		local     string
		isUser    bool
		boxes     []string
		deleted   int64
		canonical string
	}{
		{"user.jane", "", false, "jane", true, nil, 0, "user.jane"},
		{"user.jane^doe.a^b", "", false, "jane.doe", true, []string{"a.b"}, 0, "user.jane^doe.a^b"},
		{"example.com!user.jane.Sent", "example.com", true, "jane", true, []string{"Sent"}, 0, ""},
		{"example.org!user.jane", "", false, "jane", true, nil, 0, "user.jane"},
		{"a!b!c", "a", true, "", false, []string{"b!c"}, 0, ""},
		{"!news", "", true, "", false, []string{"news"}, 0, ""},
		{"news..a.", "", false, "", false, []string{"news", "a"}, 0, "news.a"},
		{"user", "", false, "", false, []string{"user"}, 0, ""},
		{"DELETED.user.jane.Sent.5f3a2b1c", "", false, "jane", true, []string{"Sent"}, 0x5F3A2B1C,
			"DELETED.user.jane.Sent.5F3A2B1C"},
		{"DELETED.news.x", "", false, "", false, []string{"news"}, 0, "news"},
		{"DELETED.news", "", false, "", false, []string{"DELETED", "news"}, 0, ""},
		{"", "", false, "", false, nil, 0, ""},
	}
	for _, tc := range tests {
		m := parseInternal(tc.internal, &cfg)
		if m.domain != tc.domain || m.hasDomain != tc.hasDomain || m.local != tc.local ||
			m.isUser != tc.isUser || !slices.Equal(m.boxes, tc.boxes) || m.deleted != tc.deleted {
			t.Errorf("parseInternal(%q) = %+v, want domain %q/%v local %q/%v boxes %q deleted %#x",
				tc.internal, m, tc.domain, tc.hasDomain, tc.local, tc.isUser, tc.boxes, tc.deleted)
		}
		want := tc.canonical
		if want == "" {
			want = tc.internal
		}
		if got := m.internal(&cfg); got != want {
			t.Errorf("parseInternal(%q).internal() = %q, want %q", tc.internal, got, want)
		}
	}
}

// TestParseHexTime follows glibc's strtoul(s, NULL, 16) stored in a time_t.
func TestParseHexTime(t *testing.T) {
	tests := []struct {
		s    string
		want int64
	}{
		{"5F3A2B1C", 0x5F3A2B1C},
		{"5f3a2b1c", 0x5F3A2B1C},
		{"0x1f", 0x1f},
		{"0X1F", 0x1f},
		{"0x", 0},
		{"0xg", 0},
		{" \t+1f", 0x1f},
		{"-1", -1},
		{"-0", 0},
		{"1fzz", 0x1f},
		{"zz", 0},
		{"", 0},
		{"ffffffffffffffff", -1},
		{"10000000000000000", -1},
		{"-10000000000000000", -1},
	}
	for _, tc := range tests {
		if got := parseHexTime(tc.s); got != tc.want {
			t.Errorf("parseHexTime(%q) = %#x, want %#x", tc.s, got, tc.want)
		}
	}
}

func TestSplitLevels(t *testing.T) {
	tests := []struct {
		s    string
		want []string
	}{
		{"a/b", []string{"a", "b"}},
		{"//a//b//", []string{"a", "b"}},
		{"/", []string{}},
		{"", []string{}},
	}
	for _, tc := range tests {
		if got := splitLevels(tc.s, '/'); !slices.Equal(got, tc.want) {
			t.Errorf("splitLevels(%q, '/') = %q, want %q", tc.s, got, tc.want)
		}
	}
}
