package namespace

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultConfig(t *testing.T) {
	want := Config{
		UnixHierarchySep: true, AltNamespace: true,
		DefaultDomain: "internal", UserPrefix: "Other Users", SharedPrefix: "Shared Folders",
		AltPrefix: "Alt Folders", DeletedPrefix: "DELETED",
	}
	if got := DefaultConfig(); got != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", got, want)
	}
	ns, err := New(nil)
	if err != nil {
		t.Fatalf("New(nil) = %v", err)
	}
	if got := ns.Config(); got != want {
		t.Errorf("New(nil).Config() = %+v, want %+v", got, want)
	}
	zero := mustNew(t, Config{}).Config()
	if zero.UnixHierarchySep || zero.AltNamespace || zero.UserPrefix != DefaultUserPrefix {
		t.Errorf("New(&Config{}).Config() = %+v, want 2.x switches with default prefixes", zero)
	}
}

// TestValidate follows mboxname_init_namespace's prefix checks, made only
// with altnamespace on.
func TestValidate(t *testing.T) {
	long := strings.Repeat("x", maxPrefixLen)
	tests := []struct {
		cfg  Config
		want error
	}{
		{DefaultConfig(), nil},
		{Config{}, nil},
		{Config{AltNamespace: true, UserPrefix: strings.Repeat("x", maxPrefixLen-1)}, nil},
		{Config{AltNamespace: true, UserPrefix: long}, ErrBadPrefix},
		{Config{AltNamespace: true, SharedPrefix: long}, ErrBadPrefix},
		{Config{AltNamespace: false, UserPrefix: long}, nil},
		{Config{AltNamespace: true, UnixHierarchySep: true, UserPrefix: "Other/Users"}, ErrBadPrefix},
		{Config{AltNamespace: true, UserPrefix: "Other.Users"}, ErrBadPrefix},
		{Config{AltNamespace: true, UnixHierarchySep: true, UserPrefix: "Other.Users"}, nil},
		{Config{AltNamespace: true, SharedPrefix: "Shared.Folders"}, ErrBadPrefix},
		// The shared prefix must not start "userprefix" + separator.
		{Config{AltNamespace: true, UserPrefix: "Users", SharedPrefix: "User"}, ErrBadPrefix},
		{Config{AltNamespace: true, UserPrefix: "Users", SharedPrefix: "Users"}, ErrBadPrefix},
		{Config{AltNamespace: true, UserPrefix: "Users", SharedPrefix: "Users."}, ErrBadPrefix},
		{Config{AltNamespace: true, UserPrefix: "User", SharedPrefix: "Users"}, nil},
		// Like Cyrus, altprefix goes unchecked.
		{Config{AltNamespace: true, UnixHierarchySep: true, AltPrefix: "Alt/Folders"}, nil},
		{Config{VirtDomains: VirtDomainsOn + 1}, ErrBadVirtDomains},
		{Config{VirtDomains: -1}, ErrBadVirtDomains},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); !errors.Is(err, tc.want) {
			t.Errorf("%+v.Validate() = %v, want %v", tc.cfg, err, tc.want)
		}
		if _, err := New(&tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("New(%+v) = %v, want %v", tc.cfg, err, tc.want)
		}
	}
}

func TestVirtDomainsString(t *testing.T) {
	tests := []struct {
		v    VirtDomains
		want string
	}{
		{VirtDomainsOff, "off"},
		{VirtDomainsUserID, "userid"},
		{VirtDomainsOn, "on"},
		{7, "VirtDomains(7)"},
	}
	for _, tc := range tests {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("VirtDomains(%d).String() = %q, want %q", int(tc.v), got, tc.want)
		}
	}
}

// TestVirtDomainsModesAgree checks that userid and on map alike: they
// differ only in how Cyrus canonifies a login.
func TestVirtDomainsModesAgree(t *testing.T) {
	a := virtConfig()
	b := a
	b.VirtDomains = VirtDomainsOn
	va, vb := mustNew(t, a).User("jane@example.com"), mustNew(t, b).User("jane@example.com")
	for _, ext := range []string{"INBOX", "Sent", "Other Users/bob", "Shared Folders/news"} {
		x, errX := va.ToInternal(ext)
		y, errY := vb.ToInternal(ext)
		if x != y || errX != nil || errY != nil {
			t.Errorf("ToInternal(%q) = %q, %v under userid, %q, %v under on", ext, x, errX, y, errY)
		}
	}
}
