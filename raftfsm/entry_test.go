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
