package namespace

import (
	"strings"
	"testing"
)

// combo is one of the eight settings of altnamespace × unixhierarchysep ×
// virtdomains the tables run under.
type combo struct {
	alt, uhs, virt bool
}

func (c combo) String() string {
	onOff := func(name string, on bool) string {
		if on {
			return name
		}
		return "no" + name
	}
	return onOff("alt", c.alt) + "," + onOff("uhs", c.uhs) + "," + onOff("virt", c.virt)
}

// config gives the combination's Config. Under virtdomains the default
// domain is example.org, so that tests tell it from the user's example.com.
func (c combo) config() Config {
	cfg := Config{AltNamespace: c.alt, UnixHierarchySep: c.uhs}
	if c.virt {
		cfg.VirtDomains = VirtDomainsUserID
		cfg.DefaultDomain = "example.org"
	}
	return cfg
}

// userid is the test user: jane, in example.com under virtdomains.
func (c combo) userid() string {
	if c.virt {
		return "jane@example.com"
	}
	return "jane"
}

// domain is the prefix of the user's internal names.
func (c combo) domain() string {
	if c.virt {
		return "example.com!"
	}
	return ""
}

// tagged reports whether a row restricted by tags applies: "uhs" and "dot"
// pick a separator, "virt" and "novirt" the virtdomains setting.
func (c combo) tagged(tags string) bool {
	for _, tag := range strings.Fields(tags) {
		switch {
		case tag == "uhs" && !c.uhs, tag == "dot" && c.uhs,
			tag == "virt" && !c.virt, tag == "novirt" && c.virt:
			return false
		}
	}
	return true
}

// ext converts a name written with '/' between levels and '.' inside them
// to the combination's separator. Rows tagged with a separator are written
// for it already.
func (c combo) ext(name, tags string) string {
	if c.uhs || strings.Contains(tags, "dot") {
		return name
	}
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = strings.ReplaceAll(l, ".", "^")
	}
	return strings.Join(levels, ".")
}

// internal fills in "{d}" with the user's domain prefix.
func (c combo) internal(name string) string {
	return strings.ReplaceAll(name, "{d}", c.domain())
}

// allCombos lists the eight combinations, altnamespace first.
func allCombos(alt ...bool) []combo {
	if len(alt) == 0 {
		alt = []bool{true, false}
	}
	var out []combo
	for _, a := range alt {
		for _, u := range []bool{true, false} {
			for _, v := range []bool{false, true} {
				out = append(out, combo{alt: a, uhs: u, virt: v})
			}
		}
	}
	return out
}

func mustNew(t testing.TB, cfg Config) *Namespace {
	t.Helper()
	ns, err := New(&cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return ns
}

func (c combo) view(t testing.TB) *View {
	return mustNew(t, c.config()).User(c.userid())
}
