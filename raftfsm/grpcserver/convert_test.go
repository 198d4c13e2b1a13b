package grpcserver

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
)

// Test data. ACLs are Cyrus internal ACLs: identifier TAB rights TAB.
const (
	testACL  = "anyone\tlrs\tbob\tlrswipkxtecdan\t"
	testACL2 = "jane\tlrswipkxtecdan\tanyone\t0\t"
	loc1     = "be01!default"
	loc2     = "be02!default"
)

func TestOpProtoRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		op   raftfsm.Op
	}{
		{"reserve", raftfsm.Op{Kind: raftfsm.OpReserve, Name: "user.jane", Location: loc1}},
		{"activate", raftfsm.Op{Kind: raftfsm.OpActivate, Name: "example.com!user.jane.Sent", Location: loc2, ACL: testACL}},
		{"activate empty ACL", raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.jane", Location: "default"}},
		{"activate odd bytes", raftfsm.Op{Kind: raftfsm.OpActivate, Name: "user.j\xe4ne^x \t", Location: "be!", ACL: "\xff\t\t" + testACL2}},
		{"deactivate", raftfsm.Op{Kind: raftfsm.OpDeactivate, Name: "user.jane", Location: loc2}},
		{"delete", raftfsm.Op{Kind: raftfsm.OpDelete, Name: "DELETED.user.bob.Trash.65B7B6BC"}},
		{"confined", raftfsm.Op{Kind: raftfsm.OpDeactivate, Name: "user.jane", Location: loc2, OnlyOn: []string{"be01", "be02"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := opFromProto(OpToProto(tt.op))
			if !ok || !reflect.DeepEqual(got, tt.op) {
				t.Errorf("opFromProto(OpToProto(%+v)) = %+v, %v, want %+v, true", tt.op, got, ok, tt.op)
			}
		})
	}
}

func TestOpFromProtoEmpty(t *testing.T) {
	for _, o := range []*roostv1.Operation{nil, {}} {
		if got, ok := opFromProto(o); ok {
			t.Errorf("opFromProto(%v) = %+v, true, want false", o, got)
		}
	}
}

// TestOpToProtoUnknownKind: an operation of no known kind must not cross a
// forwarded call as something else; the leader would apply it.
//
// An unknown operation kind is forwarded as an empty operation, which the
// leader refuses, never as a DELETE.
func TestOpToProtoUnknownKind(t *testing.T) {
	for _, kind := range []raftfsm.OpKind{0, 9} {
		op := raftfsm.Op{Kind: kind, Name: "user.jane"}
		if got, ok := opFromProto(OpToProto(op)); ok {
			t.Errorf("opFromProto(OpToProto(%+v)) = %+v, want an empty operation", op, got)
		}
	}
}

func TestMailboxProtoRoundTrip(t *testing.T) {
	tests := []raftfsm.Mailbox{
		{Name: "user.jane", State: raftfsm.StateActive, Location: loc1, ACL: testACL, CreateRevision: 3, ModifyRevision: 9},
		{Name: "example.com!user.a^b", State: raftfsm.StateReserved, Location: loc2, CreateRevision: 1, ModifyRevision: 1},
		{Name: "user.\xff\x01", State: raftfsm.StateActive, Location: "default", ACL: "\t\t", CreateRevision: 1 << 50, ModifyRevision: 1<<50 + 1},
	}
	for _, m := range tests {
		p := mailboxToProto(&m)
		if string(p.Name) != m.Name || string(p.Acl) != m.ACL || string(p.Location) != m.Location {
			t.Errorf("mailboxToProto(%+v) = %v, want the same bytes", m, p)
		}
		if got := mailboxFromProto(p); got == nil || *got != m {
			t.Errorf("mailboxFromProto(mailboxToProto(%+v)) = %+v, want the same", m, got)
		}
	}
	if got := mailboxToProto(nil); got != nil {
		t.Errorf("mailboxToProto(nil) = %v, want nil", got)
	}
	if got := mailboxFromProto(nil); got != nil {
		t.Errorf("mailboxFromProto(nil) = %+v, want nil", got)
	}
	if got := mailboxToProto(&raftfsm.Mailbox{State: raftfsm.StateActive}).State; got != roostv1.MailboxState_MAILBOX_STATE_ACTIVE {
		t.Errorf("mailboxToProto(active).State = %v, want %v", got, roostv1.MailboxState_MAILBOX_STATE_ACTIVE)
	}
	if got := mailboxToProto(&raftfsm.Mailbox{State: raftfsm.StateReserved}).State; got != roostv1.MailboxState_MAILBOX_STATE_RESERVED {
		t.Errorf("mailboxToProto(reserved).State = %v, want %v", got, roostv1.MailboxState_MAILBOX_STATE_RESERVED)
	}
}

func TestResultProtoRoundTrip(t *testing.T) {
	mb := &raftfsm.Mailbox{Name: "user.jane", State: raftfsm.StateActive, Location: loc1, ACL: testACL, CreateRevision: 2, ModifyRevision: 5}
	tests := []struct {
		name    string
		in      raftfsm.Result
		wantErr error
	}{
		{"ok", raftfsm.Result{Mailbox: mb, Existed: true}, nil},
		{"ok new", raftfsm.Result{Mailbox: mb}, nil},
		{"deleted", raftfsm.Result{Existed: true}, nil},
		{"exists", raftfsm.Result{Err: fmt.Errorf("RESERVE %q: %w at %s", "user.jane", raftfsm.ErrExists, loc2), Existed: true}, raftfsm.ErrExists},
		{"not found", raftfsm.Result{Err: fmt.Errorf("DEACTIVATE %q: %w", "user.x", raftfsm.ErrNotFound)}, raftfsm.ErrNotFound},
		{"not active", raftfsm.Result{Err: fmt.Errorf("DEACTIVATE %q: %w", "user.x", raftfsm.ErrNotActive), Existed: true}, raftfsm.ErrNotActive},
		{"invalid", raftfsm.Result{Err: fmt.Errorf("RESERVE %q: %w: empty name", "", raftfsm.ErrInvalid)}, raftfsm.ErrInvalid},
		{"aborted", raftfsm.Result{Err: fmt.Errorf("ACTIVATE %q: %w", "user.a", raftfsm.ErrAborted)}, raftfsm.ErrAborted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resultFromProto(resultToProto(tt.in))
			if got.Existed != tt.in.Existed {
				t.Errorf("round trip of %+v: Existed = %v, want %v", tt.in, got.Existed, tt.in.Existed)
			}
			if (got.Mailbox == nil) != (tt.in.Mailbox == nil) || (got.Mailbox != nil && *got.Mailbox != *tt.in.Mailbox) {
				t.Errorf("round trip of %+v: Mailbox = %+v, want %+v", tt.in, got.Mailbox, tt.in.Mailbox)
			}
			if tt.wantErr == nil {
				if got.Err != nil {
					t.Errorf("round trip of %+v: Err = %v, want nil", tt.in, got.Err)
				}
				return
			}
			if !errors.Is(got.Err, tt.wantErr) {
				t.Errorf("round trip of %+v: Err = %v, want an error wrapping %v", tt.in, got.Err, tt.wantErr)
			}
			if got.Err.Error() != tt.in.Err.Error() {
				t.Errorf("round trip of %+v: Err text = %q, want %q", tt.in, got.Err, tt.in.Err)
			}
		})
	}
}
