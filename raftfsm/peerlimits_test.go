package raftfsm

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPeers(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	act := func(name, loc, acl string) Op { return Op{Kind: OpActivate, Name: name, Location: loc, ACL: acl} }
	for _, tc := range []struct {
		op Op
		ok bool
	}{
		{act("user.jane", "be1!default", "jane\tlrswipkxtecdan\t"), true},
		{act("example.com!user.jane.Sent", "be1!", ""), true},
		{act("shared."+long(255)+"."+long(227), "be1!p", ""), true}, // 490 bytes
		{act("shared."+long(255)+"."+long(228), "be1!p", ""), false},
		{act("shared."+long(256), "be1!p", ""), false},
		{act("user."+long(240), "be1!p", ""), true},
		{act("user."+long(241), "be1!p", ""), false},
		{act(long(230)+".com!user."+long(10), "be1!p", ""), false}, // 10@230.com: 245 bytes
		{act("user..jane", "be1!p", ""), false},
		{act("user.jane.", "be1!p", ""), false},
		{act(".user.jane", "be1!p", ""), false},
		{act("a!b!user.jane", "be1!p", ""), false},
		{act("!user.jane", "be1!p", ""), false},
		{act("user.ja\x01ne", "be1!p", ""), false},
		{act("user.jane", long(63)+"!p", ""), true},
		{act("user.jane", long(64)+"!p", ""), false},
		{act("user.jane", "be1!"+long(64), ""), false},
		{act("user.jane", "!p", ""), false},
		{act("user.jane", "be1!p", "jane"), false},
		{act("user.jane", "be1!p", "jane\tlrs"), false},
		{act("user.jane", "be1!p", "jane\tlrs\tbob\t"), false},
		{act("user.jane", "be1!p", "\tlrs\t"), false},
		{Op{Kind: OpReserve, Name: "user." + long(250), Location: "be1!p"}, false},
		{Op{Kind: OpDelete, Name: "user." + long(250)}, true}, // cleaning up
	} {
		err := tc.op.CheckPeers()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckPeers(%s %.40q at %.20q, acl %q) = %v, want ok %v", tc.op.Kind, tc.op.Name, tc.op.Location, tc.op.ACL, err, tc.ok)
		}
	}
}
