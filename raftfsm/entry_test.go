package raftfsm

import (
	"fmt"
	"testing"
	"unique"
)

func TestInterner(t *testing.T) {
	var in interner
	// More distinct ACLs than the recent map holds, each seen twice and
	// apart, so answers come from unique.Make, the map, and a map that
	// started over.
	for round := range 2 {
		for i := range recentMax + recentMax/2 {
			acl := fmt.Sprintf("u%d\tlrs\t", i)
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
}
