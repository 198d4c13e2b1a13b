package raftfsm

import (
	"fmt"
	"strings"
	"testing"
	"unique"
	"unsafe"
)

func TestInterner(t *testing.T) {
	var in interner
	// The ACLs are cut from one big string, as decoded log entries cut
	// them from their columns.
	var b strings.Builder
	n := recentMax + recentMax/2
	for i := range n {
		fmt.Fprintf(&b, "u%06d\tlrs\t", i)
	}
	column := b.String()
	width := len(column) / n
	lo := uintptr(unsafe.Pointer(unsafe.StringData(column)))
	hi := lo + uintptr(len(column))
	// More distinct ACLs than the recent map holds, each seen twice and
	// apart, so answers come from unique.Make, the map, and a map that
	// started over.
	for round := range 2 {
		for i := range n {
			acl := column[i*width : (i+1)*width]
			m := Mailbox{Name: "user.a", State: StateActive, Location: fmt.Sprintf("be%d!p", i%3), ACL: acl}
			e := in.entry(m)
			if e.aclString() != acl || e.loc() != m.Location {
				t.Fatalf("round %d: entry(%q, %q) holds %q, %q", round, m.Location, acl, e.loc(), e.aclString())
			}
			if e.acl != unique.Make(acl) {
				t.Fatalf("round %d: ACL %q not the canonical handle", round, acl)
			}
		}
	}
	if len(in.recent) > recentMax {
		t.Errorf("recent map holds %d strings, want at most %d", len(in.recent), recentMax)
	}
	for k := range in.recent {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(k))); p >= lo && p < hi {
			t.Fatalf("recent map key %q points into the caller's string, which it would keep alive", k)
		}
	}

	long := strings.Repeat("x", recentMaxLen+1)
	if e := in.entry(Mailbox{Name: "user.b", State: StateActive, Location: "be1!p", ACL: long}); e.aclString() != long {
		t.Fatalf("entry with a %d-byte ACL holds a %d-byte one", len(long), len(e.aclString()))
	}
	if _, ok := in.recent[long]; ok {
		t.Errorf("recent map keeps a %d-byte string, want none longer than %d", len(long), recentMaxLen)
	}
}

// TestNewEntry: an entry holds its own copy of the name, inside its own
// allocation when the name is short enough, whatever the length.
func TestNewEntry(t *testing.T) {
	column := strings.Repeat("user.jane.Sent^x", MaxNameLen/16+1)
	lo := uintptr(unsafe.Pointer(unsafe.StringData(column)))
	hi := lo + uintptr(len(column))
	for _, n := range []int{0, 1, 15, 16, 17, 32, 33, 48, 64, 65, 80, 96, 112, 127, 128, 129, 500, MaxNameLen} {
		name := column[:n]
		e := newEntry(name)
		if e.name != name {
			t.Errorf("newEntry(%d bytes).name = %q, want %q", n, e.name, name)
		}
		if n == 0 {
			continue
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(e.name)))
		if p >= lo && p < hi {
			t.Errorf("newEntry(%d bytes).name points into the caller's string", n)
		}
		start := uintptr(unsafe.Pointer(e))
		inline := p >= start+unsafe.Sizeof(*e) && p+uintptr(n) <= start+unsafe.Sizeof(*e)+128
		if want := n <= 128; inline != want {
			t.Errorf("newEntry(%d bytes): name inside the entry's allocation = %v, want %v", n, inline, want)
		}
	}
}
