package namespace

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// cyrusCapture is testdata/cyrus-3.6.1.json: the replies of a real Cyrus
// 3.6.1 imapd (Debian bookworm) holding the mailboxes listed, every one with
// the ACL "anyone lrs", under several imapd.conf variants. For each login it
// holds the NAMESPACE reply, the names of LIST "" "*" (and, with
// allowdeleted, of LIST (VENDOR.CMU-INCLUDE-DELETED) "" "*"), and for STATUS
// (MAILBOXID) of assorted spellings the internal name whose uniqueid came
// back ("" for NO). testdata/capture_cyrus.py regenerates it.
type cyrusCapture struct {
	Mailboxes []string `json:"mailboxes"`
	Variants  []struct {
		Conf     map[string]string `json:"conf"`
		Sessions []struct {
			User      string            `json:"user"`
			Namespace string            `json:"namespace"`
			List      []string          `json:"list"`
			ListDel   []string          `json:"list_deleted"`
			Status    map[string]string `json:"status"`
		} `json:"sessions"`
	} `json:"variants"`
}

func loadCapture(t *testing.T) cyrusCapture {
	t.Helper()
	data, err := os.ReadFile("testdata/cyrus-3.6.1.json")
	if err != nil {
		t.Fatal(err)
	}
	var c cyrusCapture
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// configFromConf reads the imapd.conf options the capture varied; the rest
// were Cyrus's defaults.
func configFromConf(t *testing.T, conf map[string]string) Config {
	t.Helper()
	yes := func(k string) bool { return conf[k] == "yes" }
	c := Config{
		AltNamespace:           yes("altnamespace"),
		UnixHierarchySep:       yes("unixhierarchysep"),
		CrossDomains:           yes("crossdomains"),
		CrossDomainsOnlyOther:  yes("crossdomains_onlyother"),
		AllowDeleted:           yes("allowdeleted"),
		DisableUserNamespace:   yes("disable_user_namespace"),
		DisableSharedNamespace: yes("disable_shared_namespace"),
	}
	switch conf["virtdomains"] {
	case "off":
	case "userid":
		c.VirtDomains = VirtDomainsUserID
	default:
		t.Fatalf("virtdomains %q", conf["virtdomains"])
	}
	return c
}

func confName(conf map[string]string) string {
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + conf[k] + ",")
	}
	return strings.TrimSuffix(b.String(), ",")
}

// TestCyrusCapture replays what real Cyrus answered: NAMESPACE, the set
// LIST showed (Listed over the whole database), ToInternal of every listed
// name, and ToInternal of every STATUS probe.
func TestCyrusCapture(t *testing.T) {
	capture := loadCapture(t)
	exists := func(name string) bool { return slices.Contains(capture.Mailboxes, name) }
	for _, variant := range capture.Variants {
		cfg := configFromConf(t, variant.Conf)
		ns, err := New(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range variant.Sessions {
			t.Run(confName(variant.Conf)+"/"+s.User, func(t *testing.T) {
				v := ns.User(s.User)
				if s.User == "admin" {
					v = ns.Admin(s.User)
				}
				checkNamespace(t, v, exists(v.Inbox()), s.Namespace)
				checkList(t, v, capture.Mailboxes, false, s.List)
				if len(s.ListDel) > 0 {
					checkList(t, v, capture.Mailboxes, true, s.ListDel)
				}
				checkStatus(t, v, exists, s.Status)
			})
		}
	}
}

func checkNamespace(t *testing.T, v *View, inbox bool, want string) {
	t.Helper()
	if got := v.Namespaces(inbox).String(); got != want {
		t.Errorf("Namespaces(%v).String() = %s, want %s", inbox, got, want)
	}
}

func checkList(t *testing.T, v *View, mailboxes []string, deleted bool, want []string) {
	t.Helper()
	var got []string
	for _, name := range mailboxes {
		ext, ok := v.Listed(name, deleted)
		if !ok {
			continue
		}
		got = append(got, ext)
		if back, err := v.ToInternal(ext); back != name || err != nil {
			t.Errorf("ToInternal(%q) = %q, %v, want %q", ext, back, err, name)
		}
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Listed(*, %v) over the database = %q, want %q", deleted, got, want)
	}
}

func checkStatus(t *testing.T, v *View, exists func(string) bool, probes map[string]string) {
	t.Helper()
	for ext, want := range probes {
		got, err := v.ToInternal(ext)
		if want == "" {
			if err == nil && exists(got) {
				t.Errorf("ToInternal(%q) = %q, want a name Cyrus does not have", ext, got)
			}
			continue
		}
		if got != want || err != nil {
			t.Errorf("ToInternal(%q) = %q, %v, want %q", ext, got, err, want)
		}
	}
}
