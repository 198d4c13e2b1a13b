package servermap

import "testing"

func TestSet(t *testing.T) {
	m := Map{}
	for _, e := range []string{
		"backend1=127.0.0.1:6143",
		"backend2=imap=10.0.0.2:143,lmtp=10.0.0.2:2003,pop3=10.0.0.2:110",
		"backend1=lmtp=/var/run/cyrus/lmtp",
		"backend3=POP3=[::1]:1110",
	} {
		if err := m.Set(e); err != nil {
			t.Fatalf("Set(%q) = %v, want nil", e, err)
		}
	}
	want := Map{
		"backend1": {IMAP: "127.0.0.1:6143", LMTP: "/var/run/cyrus/lmtp"},
		"backend2": {IMAP: "10.0.0.2:143", LMTP: "10.0.0.2:2003", POP3: "10.0.0.2:110"},
		"backend3": {POP3: "[::1]:1110"},
	}
	for name, a := range want {
		if m[name] != a {
			t.Errorf("m[%q] = %v, want %v", name, m[name], a)
		}
	}
}

func TestSetRefuses(t *testing.T) {
	for _, e := range []string{
		"backend1", "=127.0.0.1:143", "backend1=", "backend1=127.0.0.1",
		"backend1=imap=127.0.0.1", "backend1=smtp=127.0.0.1:25", "backend1=lmtp=127.0.0.1:24,pop3",
		"backend1=pop3=/var/run/pop3", "backend1=imap=:143",
	} {
		m := Map{}
		if err := m.Set(e); err == nil {
			t.Errorf("Set(%q) = nil, want an error", e)
		}
		if len(m) != 0 {
			t.Errorf("Set(%q) left %v, want nothing", e, m)
		}
	}
}

func TestAddr(t *testing.T) {
	m := Map{"backend1": {IMAP: "127.0.0.1:6143", LMTP: "/run/lmtp"}}
	for _, tc := range []struct {
		server string
		p      Protocol
		want   string
	}{
		{"backend1", IMAP, "127.0.0.1:6143"},
		{"backend1", LMTP, "/run/lmtp"},
		{"backend1", POP3, "backend1:110"},
		{"imap.example.com", IMAP, "imap.example.com:143"},
		{"imap.example.com", LMTP, "imap.example.com:24"},
		{"127.0.0.1:6243", IMAP, "127.0.0.1:6243"},
		{"127.0.0.1:6243", LMTP, "127.0.0.1:24"},
		{"127.0.0.1:6243", POP3, "127.0.0.1:110"},
		{"[::1]:143", LMTP, "[::1]:24"},
	} {
		if got := m.Addr(tc.server, tc.p); got != tc.want {
			t.Errorf("Addr(%q, %v) = %q, want %q", tc.server, tc.p, got, tc.want)
		}
	}
	if got := Network("/run/lmtp"); got != "unix" {
		t.Errorf("Network(/run/lmtp) = %q, want unix", got)
	}
	if got := Network("127.0.0.1:24"); got != "tcp" {
		t.Errorf("Network(127.0.0.1:24) = %q, want tcp", got)
	}
}
