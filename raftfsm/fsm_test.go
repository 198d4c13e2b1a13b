package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// Test data. ACLs are Cyrus internal ACLs: identifier TAB rights TAB.
const (
	testACL  = "anyone\tlrs\tbob\tlrswipkxtecdan\t"
	testACL2 = "jane\tlrswipkxtecdan\tanyone\t0\t"
	loc1     = "be01!default"
	loc2     = "be02!default"
	loc3     = "be02!archive"
)

func reserveOp(name, loc string) Op { return Op{Kind: OpReserve, Name: name, Location: loc} }
func activateOp(name, loc, acl string) Op {
	return Op{Kind: OpActivate, Name: name, Location: loc, ACL: acl}
}
func deactivateOp(name, loc string) Op { return Op{Kind: OpDeactivate, Name: name, Location: loc} }
func deleteOp(name string) Op          { return Op{Kind: OpDelete, Name: name} }

// onlyOn confines op to servers.
func onlyOn(op Op, servers ...string) Op {
	op.OnlyOn = servers
	return op
}

// testFSM feeds an FSM crafted Raft log entries with increasing indexes.
type testFSM struct {
	*FSM
	tb    testing.TB
	index uint64
}

func newTestFSM(tb testing.TB, historySize int) *testFSM {
	return &testFSM{FSM: NewFSM(historySize, nil), tb: tb}
}

// commandLog returns the log entry for ops at index.
func commandLog(tb testing.TB, index uint64, atomic bool, ops ...Op) *raft.Log {
	tb.Helper()
	data, err := encodeOps(ops, atomic, LogFormat)
	if err != nil {
		tb.Fatalf("encodeOps(%v, %v) = %v, want nil error", ops, atomic, err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// apply applies ops as one entry (a bare op when there is one and the
// batch is not atomic) and returns the response.
func (f *testFSM) apply(atomic bool, ops ...Op) *ApplyResponse {
	f.tb.Helper()
	f.index++
	got := f.Apply(commandLog(f.tb, f.index, atomic, ops...))
	resp, ok := got.(*ApplyResponse)
	if !ok {
		f.tb.Fatalf("Apply(entry %d) = %T, want *ApplyResponse", f.index, got)
	}
	if resp.Revision != f.index || len(resp.Results) != len(ops) {
		f.tb.Fatalf("Apply(entry %d) = revision %d with %d results, want revision %d with %d",
			f.index, resp.Revision, len(resp.Results), f.index, len(ops))
	}
	return resp
}

// must applies each op as its own entry and fails on any refusal.
func (f *testFSM) must(ops ...Op) {
	f.tb.Helper()
	for _, op := range ops {
		if err := f.apply(false, op).Results[0].Err; err != nil {
			f.tb.Fatalf("apply %v %q at %d = %v, want nil error", op.Kind, op.Name, f.index, err)
		}
	}
}

// mustBatch applies ops as one non-atomic entry and fails on any refusal.
func (f *testFSM) mustBatch(ops ...Op) {
	f.tb.Helper()
	for i, r := range f.apply(false, ops...).Results {
		if r.Err != nil {
			f.tb.Fatalf("apply batch op %d %v %q at %d = %v, want nil error", i, ops[i].Kind, ops[i].Name, f.index, r.Err)
		}
	}
}

func (f *testFSM) setMember(m Member) {
	f.tb.Helper()
	data, err := encodeSetMember(m)
	if err != nil {
		f.tb.Fatal(err)
	}
	f.index++
	if got := f.Apply(&raft.Log{Index: f.index, Type: raft.LogCommand, Data: data}); got != nil {
		f.tb.Fatalf("Apply(set member) = %v, want nil", got)
	}
}

func listAll(v *View, o ListOptions) []Mailbox {
	var out []Mailbox
	v.List(o, func(m Mailbox) bool {
		out = append(out, m)
		return true
	})
	return out
}

func names(ms []Mailbox) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// diffMailboxes describes the first difference between two listings, or
// returns "".
func diffMailboxes(got, want []Mailbox) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("missing [%d] %+v (got %d entries, want %d)", i, want[i], len(got), len(want))
		case i >= len(want):
			return fmt.Sprintf("extra [%d] %+v (got %d entries, want %d)", i, got[i], len(got), len(want))
		case got[i] != want[i]:
			return fmt.Sprintf("[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	return ""
}

// memSink is a raft.SnapshotSink over memory.
type memSink struct {
	bytes.Buffer
	closed, canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

// snapshotBytes takes a snapshot and persists it into memory.
func snapshotBytes(tb testing.TB, f *FSM) []byte {
	tb.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		tb.Fatalf("Snapshot() = %v, want nil error", err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		tb.Fatalf("Persist() = %v, want nil error", err)
	}
	if !sink.closed || sink.canceled {
		tb.Fatalf("Persist() left sink closed=%v canceled=%v, want closed and not canceled", sink.closed, sink.canceled)
	}
	return sink.Bytes()
}

func restoreBytes(f *FSM, b []byte) error {
	return f.Restore(io.NopCloser(bytes.NewReader(b)))
}

func TestApplyCommands(t *testing.T) {
	tests := []struct {
		name        string
		setup       []Op // one entry each, at indexes 1..len(setup)
		op          Op   // at index len(setup)+1
		wantErr     error
		wantExisted bool
		want        *Mailbox // the entry afterwards
		wantEvent   bool
	}{
		{
			name:      "reserve new",
			op:        reserveOp("user.jane", loc1),
			want:      &Mailbox{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 1, ModifyRevision: 1},
			wantEvent: true,
		},
		{
			name:        "reserve same location when active drops ACL",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          reserveOp("user.jane", loc1),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "reserve same location when reserved is a no-op",
			setup:       []Op{reserveOp("user.jane", loc1)},
			op:          reserveOp("user.jane", loc1),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:        "reserve other location when active",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          reserveOp("user.jane", loc2),
			wantErr:     ErrExists,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:        "reserve other location when reserved",
			setup:       []Op{reserveOp("user.jane", loc1)},
			op:          reserveOp("user.jane", loc3),
			wantErr:     ErrExists,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:      "activate without reserve",
			op:        activateOp("user.jane", loc1, testACL),
			want:      &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 1},
			wantEvent: true,
		},
		{
			name:        "activate after reserve",
			setup:       []Op{activateOp("user.bob", loc1, testACL), reserveOp("user.jane", loc1)},
			op:          activateOp("user.jane", loc1, testACL),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 2, ModifyRevision: 3},
			wantEvent:   true,
		},
		{
			name:        "activate at a reserve's other location",
			setup:       []Op{reserveOp("user.jane", loc1)},
			op:          activateOp("user.jane", loc2, testACL),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc2, ACL: testACL, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "activate moves",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          activateOp("user.jane", loc3, testACL),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc3, ACL: testACL, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "activate changes ACL",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          activateOp("user.jane", loc1, testACL2),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL2, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "activate ACL differing only in trailing TAB",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          activateOp("user.jane", loc1, strings.TrimSuffix(testACL, "\t")),
			wantExisted: true,
			want: &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: strings.TrimSuffix(testACL, "\t"),
				CreateRevision: 1, ModifyRevision: 2},
			wantEvent: true,
		},
		{
			name:        "identical activate is a no-op",
			setup:       []Op{activateOp("user.jane", loc1, testACL), activateOp("user.bob", loc1, testACL)},
			op:          activateOp("user.jane", loc1, testACL),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:      "activate with empty ACL",
			op:        activateOp("example.com!user.jane", loc1, ""),
			want:      &Mailbox{Name: "example.com!user.jane", State: StateActive, Location: loc1, CreateRevision: 1, ModifyRevision: 1},
			wantEvent: true,
		},
		{
			name:    "deactivate unknown",
			setup:   []Op{activateOp("user.bob", loc1, testACL)},
			op:      deactivateOp("user.jane", loc1),
			wantErr: ErrNotFound,
		},
		{
			name:        "deactivate reserved",
			setup:       []Op{reserveOp("user.jane", loc1)},
			op:          deactivateOp("user.jane", loc1),
			wantErr:     ErrNotActive,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:        "deactivate active to a new location",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          deactivateOp("user.jane", loc2),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc2, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "deactivate active in place",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          deactivateOp("user.jane", loc1),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc1, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:  "delete unknown succeeds",
			setup: []Op{activateOp("user.bob", loc1, testACL)},
			op:    deleteOp("user.jane"),
		},
		{
			name:        "delete active",
			setup:       []Op{activateOp("user.jane", loc1, testACL), activateOp("user.jane.Sent", loc1, testACL)},
			op:          deleteOp("user.jane"),
			wantExisted: true,
			wantEvent:   true,
		},
		{
			name:        "delete reserved",
			setup:       []Op{reserveOp("user.jane", loc1)},
			op:          deleteOp("user.jane"),
			wantExisted: true,
			wantEvent:   true,
		},
		{
			name:        "delete ignores a location",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          Op{Kind: OpDelete, Name: "user.jane", Location: loc2},
			wantExisted: true,
			wantEvent:   true,
		},
		// Invalid operations change nothing, even for existing names.
		{name: "invalid empty name", op: activateOp("", loc1, testACL), wantErr: ErrInvalid},
		{name: "invalid empty name delete", op: deleteOp(""), wantErr: ErrInvalid},
		{
			name:    "invalid name with LF",
			setup:   []Op{activateOp("user.jane", loc1, testACL)},
			op:      activateOp("user.jane\n", loc1, testACL),
			wantErr: ErrInvalid,
		},
		{name: "invalid name with CR", op: reserveOp("user.jane\r", loc1), wantErr: ErrInvalid},
		{name: "invalid name with NUL", op: deleteOp("user.jane\x00"), wantErr: ErrInvalid},
		{name: "invalid name too long", op: reserveOp(strings.Repeat("a", MaxNameLen+1), loc1), wantErr: ErrInvalid},
		{
			name:    "invalid location with two bangs",
			setup:   []Op{activateOp("user.jane", loc1, testACL)},
			op:      activateOp("user.jane", "be01!default!x", testACL),
			wantErr: ErrInvalid,
			want:    &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 1},
		},
		{name: "invalid reserve with two bangs", op: reserveOp("user.jane", "a!b!c"), wantErr: ErrInvalid},
		{name: "invalid empty location", op: reserveOp("user.jane", ""), wantErr: ErrInvalid},
		{name: "invalid location too long", op: activateOp("user.jane", strings.Repeat("l", MaxLocationLen+1), ""), wantErr: ErrInvalid},
		{name: "invalid ACL with LF", op: activateOp("user.jane", loc1, "anyone\tlrs\n"), wantErr: ErrInvalid},
		{name: "invalid ACL too long", op: activateOp("user.jane", loc1, strings.Repeat("x", MaxACLLen+1)), wantErr: ErrInvalid},

		// Operations confined to servers (OnlyOn): loc1 is on be01,
		// loc2 and loc3 on be02.
		{
			name:      "confined activate of a new name",
			op:        onlyOn(activateOp("user.jane", loc1, testACL), "be01"),
			want:      &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 1},
			wantEvent: true,
		},
		{
			name:        "confined activate on its server",
			setup:       []Op{reserveOp("user.jane", loc1)},
			op:          onlyOn(activateOp("user.jane", loc1, testACL), "be09", "be01"),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "confined activate cannot take another server's mailbox",
			setup:       []Op{activateOp("user.jane", loc2, testACL2)},
			op:          onlyOn(activateOp("user.jane", loc1, testACL), "be01"),
			wantErr:     ErrWrongServer,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc2, ACL: testACL2, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:        "confined to the server part, not the partition",
			setup:       []Op{activateOp("user.jane", loc3, testACL2)},
			op:          onlyOn(deactivateOp("user.jane", loc2), "be02"),
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateReserved, Location: loc2, CreateRevision: 1, ModifyRevision: 2},
			wantEvent:   true,
		},
		{
			name:        "confined deactivate of another server's mailbox",
			setup:       []Op{activateOp("user.jane", loc2, testACL2)},
			op:          onlyOn(deactivateOp("user.jane", loc1), "be01"),
			wantErr:     ErrWrongServer,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc2, ACL: testACL2, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:    "confined deactivate of an absent name is not found",
			op:      onlyOn(deactivateOp("user.jane", loc1), "be01"),
			wantErr: ErrNotFound,
		},
		{
			name:        "confined delete of another server's mailbox",
			setup:       []Op{activateOp("user.jane", loc2, testACL2)},
			op:          onlyOn(deleteOp("user.jane"), "be01"),
			wantErr:     ErrWrongServer,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc2, ACL: testACL2, CreateRevision: 1, ModifyRevision: 1},
		},
		{
			name:        "confined delete on its server",
			setup:       []Op{activateOp("user.jane", loc1, testACL)},
			op:          onlyOn(deleteOp("user.jane"), "be01"),
			wantExisted: true,
			wantEvent:   true,
		},
		{name: "confined delete of an absent name", op: onlyOn(deleteOp("user.jane"), "be01")},
		{
			name:        "confined reserve elsewhere is still already exists",
			setup:       []Op{activateOp("user.jane", loc2, testACL2)},
			op:          onlyOn(reserveOp("user.jane", loc1), "be01"),
			wantErr:     ErrExists,
			wantExisted: true,
			want:        &Mailbox{Name: "user.jane", State: StateActive, Location: loc2, ACL: testACL2, CreateRevision: 1, ModifyRevision: 1},
		},
		{name: "invalid server with a bang", op: onlyOn(reserveOp("user.jane", loc1), "be01!default"), wantErr: ErrInvalid},
		{name: "invalid empty server", op: onlyOn(reserveOp("user.jane", loc1), ""), wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			f.must(tt.setup...)
			before := listAll(f.View(), ListOptions{})
			w := f.WatchView(f.View(), "")
			defer w.Close()

			resp := f.apply(false, tt.op)
			r := resp.Results[0]
			index := f.index

			if !errors.Is(r.Err, tt.wantErr) || (tt.wantErr == nil) != (r.Err == nil) {
				t.Fatalf("apply %v %q: Err = %v, want %v", tt.op.Kind, tt.op.Name, r.Err, tt.wantErr)
			}
			if r.Existed != tt.wantExisted {
				t.Errorf("apply %v %q: Existed = %v, want %v", tt.op.Kind, tt.op.Name, r.Existed, tt.wantExisted)
			}
			if got := f.Revision(); got != index {
				t.Errorf("Revision() = %d, want %d", got, index)
			}
			got, rev := f.Get(tt.op.Name)
			if rev != index {
				t.Errorf("Get(%q) revision = %d, want %d", tt.op.Name, rev, index)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("Get(%q) = %+v, want %+v", tt.op.Name, got, tt.want)
			}
			if tt.wantErr == nil {
				if (r.Mailbox == nil) != (tt.want == nil) || (r.Mailbox != nil && *r.Mailbox != *tt.want) {
					t.Errorf("apply %v %q: Mailbox = %+v, want %+v", tt.op.Kind, tt.op.Name, r.Mailbox, tt.want)
				}
			} else if r.Mailbox != nil {
				t.Errorf("apply %v %q: Mailbox = %+v, want nil on refusal", tt.op.Kind, tt.op.Name, r.Mailbox)
			}

			after := listAll(f.View(), ListOptions{})
			if tt.wantErr != nil || !tt.wantEvent {
				if d := diffMailboxes(after, before); d != "" {
					t.Errorf("listing changed by an operation that changes nothing: %s", d)
				}
			}

			evs, wrev, err := w.Pending()
			if err != nil {
				t.Fatalf("Pending() = %v, want nil error", err)
			}
			if !tt.wantEvent {
				if len(evs) != 0 {
					t.Errorf("Pending() = %+v, want no events", evs)
				}
				return
			}
			if len(evs) != 1 || wrev != index {
				t.Fatalf("Pending() = %+v at %d, want one event at %d", evs, wrev, index)
			}
			ev := evs[0]
			if ev.Revision != index {
				t.Errorf("event revision = %d, want %d", ev.Revision, index)
			}
			if tt.op.Kind == OpDelete {
				var old *Mailbox
				for i := range before {
					if before[i].Name == tt.op.Name {
						old = &before[i]
					}
				}
				if ev.Type != EventDelete || old == nil || ev.Mailbox != *old {
					t.Errorf("event = %+v, want delete of %+v", ev, old)
				}
			} else if ev.Type != EventPut || ev.Mailbox != *tt.want {
				t.Errorf("event = %+v, want put of %+v", ev, *tt.want)
			}
		})
	}
}

func TestOpValidate(t *testing.T) {
	tests := []struct {
		op      Op
		wantErr bool
	}{
		{activateOp("user.jane", loc1, testACL), false},
		{activateOp("user.jane", "default", ""), false}, // replicated config: partition only
		{reserveOp("user.jane", loc1), false},
		{deactivateOp("user.jane", loc1), false},
		{deleteOp("user.jane"), false},
		{Op{Kind: 0, Name: "user.jane", Location: loc1}, true},
		{Op{Kind: 9, Name: "user.jane", Location: loc1}, true},
		{deactivateOp("user.jane", ""), true},
		{activateOp("user.jane", "a!b!c", testACL), true},
		// The log encoding has no ACL field but in ACTIVATE, so these
		// can only be refused before they are proposed.
		{Op{Kind: OpReserve, Name: "user.jane", Location: loc1, ACL: testACL}, true},
		{Op{Kind: OpDeactivate, Name: "user.jane", Location: loc1, ACL: testACL}, true},
		{Op{Kind: OpDelete, Name: "user.jane", ACL: testACL}, true},
		{Op{Kind: OpDelete, Name: "user.jane", Location: "ignored"}, false},
		{Op{Kind: OpReserve, Name: "user.jane\r\n", Location: loc1}, true},
		{Op{Kind: OpActivate, Name: "user.jane", Location: loc1, ACL: "a\x00"}, true},
		{activateOp(strings.Repeat("n", MaxNameLen), strings.Repeat("l", MaxLocationLen), strings.Repeat("a", MaxACLLen)), false},
		{onlyOn(deleteOp("user.jane"), "be01", "be02"), false},
		{onlyOn(deleteOp("user.jane"), slices.Repeat([]string{"be01"}, MaxOnlyOn)...), false},
		{onlyOn(deleteOp("user.jane"), slices.Repeat([]string{"be01"}, MaxOnlyOn+1)...), true},
		{onlyOn(deleteOp("user.jane"), "be\n01"), true},
	}
	for _, tt := range tests {
		err := tt.op.Validate()
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("Op{%v %.20q %.20q %.20q}.Validate() = %v, want error %v", tt.op.Kind, tt.op.Name, tt.op.Location, tt.op.ACL, err, tt.wantErr)
		}
	}
}

// TestWrittenFormat: the FSM remembers the newest log format it has
// applied, across snapshots, so that no node that cannot read it joins.
func TestWrittenFormat(t *testing.T) {
	f := newTestFSM(t, 0)
	steps := []struct {
		ops  []Op
		want uint32
	}{
		{[]Op{reserveOp("user.a", loc1)}, 0},
		{[]Op{reserveOp("user.b", loc1), deleteOp("user.a")}, LogFormatOps},
		{[]Op{onlyOn(deleteOp("user.b"), "be01")}, LogFormatOnlyOn},
		{[]Op{reserveOp("user.c", loc1), deleteOp("user.a")}, LogFormatOnlyOn}, // never goes down
	}
	for i, st := range steps {
		f.apply(false, st.ops...)
		if got := f.WrittenFormat(); got != st.want {
			t.Errorf("step %d: WrittenFormat() = %d, want %d", i, got, st.want)
		}
	}
	g := NewFSM(0, nil)
	if err := restoreBytes(g, snapshotBytes(t, f.FSM)); err != nil {
		t.Fatal(err)
	}
	if got := g.WrittenFormat(); got != LogFormatOnlyOn {
		t.Errorf("WrittenFormat() after restore = %d, want %d", got, LogFormatOnlyOn)
	}
}

func TestApplyRefusedKeepsCreateRevision(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(reserveOp("user.jane", loc1), activateOp("user.jane", loc1, testACL), activateOp("user.jane", loc2, testACL2),
		deactivateOp("user.jane", loc3))
	got, _ := f.Get("user.jane")
	want := Mailbox{Name: "user.jane", State: StateReserved, Location: loc3, CreateRevision: 1, ModifyRevision: 4}
	if got == nil || *got != want {
		t.Fatalf("Get(user.jane) = %+v, want %+v", got, want)
	}
	// Deleting and recreating starts a new life.
	f.must(deleteOp("user.jane"), activateOp("user.jane", loc1, testACL))
	got, _ = f.Get("user.jane")
	want = Mailbox{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL, CreateRevision: 6, ModifyRevision: 6}
	if got == nil || *got != want {
		t.Fatalf("Get(user.jane) = %+v, want %+v", got, want)
	}
}

func TestApplyAtomicBatch(t *testing.T) {
	tests := []struct {
		name    string
		ops     []Op
		wantErr []error // per op
	}{
		{
			name: "refusal in the middle",
			ops: []Op{
				activateOp("user.new", loc1, testACL),
				reserveOp("user.other", loc1),
				reserveOp("user.jane", loc2), // exists at loc1
				activateOp("user.bob", loc3, testACL2),
				deleteOp("user.jane.Sent"),
			},
			wantErr: []error{ErrAborted, ErrAborted, ErrExists, ErrAborted, ErrAborted},
		},
		{
			name: "refusal first",
			ops: []Op{
				deactivateOp("user.nobody", loc1),
				activateOp("user.new", loc1, testACL),
			},
			wantErr: []error{ErrNotFound, ErrAborted},
		},
		{
			name: "refusal last after changing a name twice",
			ops: []Op{
				activateOp("user.jane", loc3, testACL2),
				deactivateOp("user.jane", loc2),
				deleteOp("user.jane"),
				activateOp("user.jane", loc2, ""),
				deleteOp("user.bob"),
				reserveOp("user.bob", loc1),
				deactivateOp("user.reserved", loc1),
			},
			wantErr: []error{ErrAborted, ErrAborted, ErrAborted, ErrAborted, ErrAborted, ErrAborted, ErrNotActive},
		},
		{
			name: "invalid op",
			ops: []Op{
				deleteOp("user.jane"),
				reserveOp("user.x\n", loc1),
			},
			wantErr: []error{ErrAborted, ErrInvalid},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t, 0)
			f.must(activateOp("user.jane", loc1, testACL), activateOp("user.jane.Sent", loc1, testACL),
				activateOp("user.bob", loc2, testACL), reserveOp("user.reserved", loc2))
			before := listAll(f.View(), ListOptions{})
			beforeByte := listAll(f.View(), ListOptions{ByteOrder: true})
			w := f.WatchView(f.View(), "")
			defer w.Close()

			resp := f.apply(true, tt.ops...)
			for i, r := range resp.Results {
				if !errors.Is(r.Err, tt.wantErr[i]) {
					t.Errorf("atomic op %d %v %q: Err = %v, want %v", i, tt.ops[i].Kind, tt.ops[i].Name, r.Err, tt.wantErr[i])
				}
				if r.Mailbox != nil {
					t.Errorf("atomic op %d %v %q: Mailbox = %+v, want nil", i, tt.ops[i].Kind, tt.ops[i].Name, r.Mailbox)
				}
			}
			if d := diffMailboxes(listAll(f.View(), ListOptions{}), before); d != "" {
				t.Errorf("aborted batch changed the table: %s", d)
			}
			if d := diffMailboxes(listAll(f.View(), ListOptions{ByteOrder: true}), beforeByte); d != "" {
				t.Errorf("aborted batch changed the byte-order table: %s", d)
			}
			for _, m := range before {
				if got, _ := f.Get(m.Name); got == nil || *got != m {
					t.Errorf("Get(%q) = %+v, want %+v", m.Name, got, m)
				}
			}
			if got := f.Revision(); got != f.index {
				t.Errorf("Revision() = %d, want %d", got, f.index)
			}
			if evs, _, err := w.Pending(); err != nil || len(evs) != 0 {
				t.Errorf("Pending() = %+v, %v, want no events", evs, err)
			}
		})
	}
}

func TestApplyAtomicBatchSuccess(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("user.jane", loc1, testACL))
	w := f.WatchView(f.View(), "")
	defer w.Close()
	resp := f.apply(true,
		reserveOp("user.new", loc2),
		activateOp("user.new", loc2, testACL2),
		deactivateOp("user.jane", loc3),
	)
	for i, r := range resp.Results {
		if r.Err != nil {
			t.Errorf("atomic op %d: Err = %v, want nil", i, r.Err)
		}
	}
	want := []Mailbox{
		{Name: "user.jane", State: StateReserved, Location: loc3, CreateRevision: 1, ModifyRevision: 2},
		{Name: "user.new", State: StateActive, Location: loc2, ACL: testACL2, CreateRevision: 2, ModifyRevision: 2},
	}
	if d := diffMailboxes(listAll(f.View(), ListOptions{}), want); d != "" {
		t.Errorf("listing after atomic batch: %s", d)
	}
	evs, rev, err := w.Pending()
	if err != nil || len(evs) != 3 || rev != 2 {
		t.Fatalf("Pending() = %d events at %d, %v, want 3 at 2", len(evs), rev, err)
	}
	for i, ev := range evs {
		if ev.Revision != 2 || ev.Type != EventPut {
			t.Errorf("event %d = %+v, want put at revision 2", i, ev)
		}
	}
}

func TestApplyNonAtomicBatch(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("user.jane", loc1, testACL), reserveOp("user.res", loc1))
	w := f.WatchView(f.View(), "")
	defer w.Close()
	ops := []Op{
		activateOp("user.a", loc1, testACL),
		deactivateOp("user.nobody", loc1),
		deleteOp("user.a"),
		reserveOp("user.jane", loc2),
		reserveOp("user.b", loc2),
		deactivateOp("user.res", loc1),
		deleteOp("user.gone"),
		activateOp("", loc1, ""),
		activateOp("user.jane", loc1, testACL2),
	}
	wantErr := []error{nil, ErrNotFound, nil, ErrExists, nil, ErrNotActive, nil, ErrInvalid, nil}
	wantExisted := []bool{false, false, true, true, false, true, false, false, true}
	resp := f.apply(false, ops...)
	if resp.Revision != 3 {
		t.Errorf("Revision = %d, want 3", resp.Revision)
	}
	for i, r := range resp.Results {
		if !errors.Is(r.Err, wantErr[i]) || (wantErr[i] == nil) != (r.Err == nil) {
			t.Errorf("op %d %v %q: Err = %v, want %v", i, ops[i].Kind, ops[i].Name, r.Err, wantErr[i])
		}
		if r.Existed != wantExisted[i] {
			t.Errorf("op %d %v %q: Existed = %v, want %v", i, ops[i].Kind, ops[i].Name, r.Existed, wantExisted[i])
		}
		if r.Mailbox != nil && r.Mailbox.ModifyRevision != 3 {
			t.Errorf("op %d %v %q: ModifyRevision = %d, want 3", i, ops[i].Kind, ops[i].Name, r.Mailbox.ModifyRevision)
		}
	}
	want := []Mailbox{
		{Name: "user.b", State: StateReserved, Location: loc2, CreateRevision: 3, ModifyRevision: 3},
		{Name: "user.jane", State: StateActive, Location: loc1, ACL: testACL2, CreateRevision: 1, ModifyRevision: 3},
		{Name: "user.res", State: StateReserved, Location: loc1, CreateRevision: 2, ModifyRevision: 2},
	}
	if d := diffMailboxes(listAll(f.View(), ListOptions{}), want); d != "" {
		t.Errorf("listing after batch: %s", d)
	}
	evs, _, err := w.Pending()
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		typ  EventType
		name string
	}
	var got []ev
	for _, e := range evs {
		if e.Revision != 3 {
			t.Errorf("event %+v: Revision = %d, want 3", e, e.Revision)
		}
		got = append(got, ev{e.Type, e.Mailbox.Name})
	}
	wantEvs := []ev{{EventPut, "user.a"}, {EventDelete, "user.a"}, {EventPut, "user.b"}, {EventPut, "user.jane"}}
	if !slices.Equal(got, wantEvs) {
		t.Errorf("events = %v, want %v", got, wantEvs)
	}
}

func TestApplyNonCommandAndMembers(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("user.jane", loc1, testACL))
	f.setMember(Member{ID: "n1", GRPCAddr: "10.0.0.1:7000"})
	f.setMember(Member{ID: "n2", GRPCAddr: "10.0.0.2:7000", LogFormat: LogFormatOps})
	if got := f.Revision(); got != 3 {
		t.Errorf("Revision() = %d, want 3", got)
	}
	data, err := encodeRemoveMember("n1")
	if err != nil {
		t.Fatal(err)
	}
	out := f.ApplyBatch([]*raft.Log{
		{Index: 4, Type: raft.LogNoop},
		{Index: 5, Type: raft.LogCommand, Data: data},
		{Index: 6, Type: raft.LogConfiguration, Data: []byte("not a command")},
		commandLog(t, 7, false, activateOp("user.bob", loc2, "")),
		{Index: 8, Type: raft.LogBarrier},
	})
	if len(out) != 5 || out[0] != nil || out[1] != nil || out[2] != nil || out[4] != nil {
		t.Errorf("ApplyBatch() = %v, want nil responses for all but entry 7", out)
	}
	if r, ok := out[3].(*ApplyResponse); !ok || r.Revision != 7 || r.Results[0].Err != nil {
		t.Errorf("ApplyBatch()[3] = %+v, want a successful response at 7", out[3])
	}
	if got := f.Revision(); got != 7 {
		t.Errorf("Revision() = %d, want 7", got)
	}
	if addr, ok := f.Member("n1"); ok {
		t.Errorf("Member(n1) = %q, true, want removed", addr)
	}
	if addr, ok := f.Member("n2"); !ok || addr != "10.0.0.2:7000" {
		t.Errorf("Member(n2) = %q, %v, want 10.0.0.2:7000, true", addr, ok)
	}
	if got := f.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	// The log format a member declared survives a snapshot.
	g := NewFSM(0, nil)
	if err := restoreBytes(g, snapshotBytes(t, f.FSM)); err != nil {
		t.Fatal(err)
	}
	if m, ok := g.MemberInfo("n2"); !ok || m.LogFormat != LogFormatOps {
		t.Errorf("MemberInfo(n2) after restore = %+v, %v, want log format %d", m, ok, LogFormatOps)
	}
}

func TestApplyCorruptEntryPanics(t *testing.T) {
	for _, data := range [][]byte{nil, {0}, {2, 1, 2}, {formatProtoV1}, {formatProtoV1, 0xff, 0xff}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Apply(data %x) did not panic, want a panic", data)
				}
			}()
			NewFSM(0, nil).Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
		}()
	}
}

func TestViewIsFrozen(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("user.jane", loc1, testACL), activateOp("user.bob", loc1, testACL))
	v := f.View()
	want := listAll(v, ListOptions{})
	f.must(deleteOp("user.jane"), activateOp("user.bob", loc2, testACL2), activateOp("user.zed", loc1, ""))
	if d := diffMailboxes(listAll(v, ListOptions{}), want); d != "" {
		t.Errorf("View listing changed after writes: %s", d)
	}
	if got := v.Revision(); got != 2 {
		t.Errorf("View.Revision() = %d, want 2", got)
	}
	if got := v.Len(); got != 2 {
		t.Errorf("View.Len() = %d, want 2", got)
	}
	if got := v.Get("user.jane"); got == nil || got.ACL != testACL {
		t.Errorf("View.Get(user.jane) = %+v, want the old entry", got)
	}
	if got := f.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
}

// buildSnapshotState fills f with every kind of entry.
func buildSnapshotState(f *testFSM) {
	f.must(
		activateOp("user.jane", loc1, testACL),
		activateOp("user.jane.Sent", loc1, testACL),
		activateOp("user.jane^x", loc1, testACL2),
		reserveOp("user.new", loc2),
		activateOp("example.com!user.a", loc2, "a\tlrswipkxtecdan\t"),
		activateOp("example.com!user.a.Trash", loc2, ""),
		reserveOp("example.net!user.b", loc3),
		activateOp("DELETED.user.bob.Trash.65B7B6BC", loc3, testACL),
		activateOp("shared.lists", "default", "anyone\tlrs\t"),
	)
	f.mustBatch(activateOp("user.moved", loc1, testACL), deactivateOp("user.moved", loc2), activateOp("user.gone", loc1, ""))
	f.must(deleteOp("user.gone"))
	f.setMember(Member{ID: "n1", GRPCAddr: "10.0.0.1:7000"})
	f.setMember(Member{ID: "n2", GRPCAddr: "[::1]:7000"})
	f.must(activateOp("user.last", loc1, testACL))
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := newTestFSM(t, 0)
	buildSnapshotState(src)
	snap := snapshotBytes(t, src.FSM)

	dst := newTestFSM(t, 0)
	dst.must(activateOp("user.stale", loc1, testACL))
	if err := restoreBytes(dst.FSM, snap); err != nil {
		t.Fatalf("Restore() = %v, want nil error", err)
	}
	if got, want := dst.Revision(), src.Revision(); got != want {
		t.Errorf("Revision() after restore = %d, want %d", got, want)
	}
	if got, want := dst.Len(), src.Len(); got != want {
		t.Errorf("Len() after restore = %d, want %d", got, want)
	}
	for _, o := range []ListOptions{{}, {ByteOrder: true}, {Prefix: "user."}, {Prefix: "example."}} {
		if d := diffMailboxes(listAll(dst.View(), o), listAll(src.View(), o)); d != "" {
			t.Errorf("List(%+v) after restore: %s", o, d)
		}
	}
	for _, id := range []string{"n1", "n2"} {
		want, _ := src.Member(id)
		if got, ok := dst.Member(id); !ok || got != want {
			t.Errorf("Member(%q) after restore = %q, %v, want %q, true", id, got, ok, want)
		}
	}
	if got, _ := dst.Get("user.stale"); got != nil {
		t.Errorf("Get(user.stale) after restore = %+v, want nil", got)
	}
	// Snapshotting the restored state gives the same bytes.
	if again := snapshotBytes(t, dst.FSM); !bytes.Equal(again, snap) {
		t.Errorf("snapshot of restored FSM differs from the original (%d vs %d bytes)", len(again), len(snap))
	}
	// The restored FSM goes on applying.
	dst.index = src.index
	dst.must(activateOp("user.jane", loc2, testACL))
	if got, _ := dst.Get("user.jane"); got == nil || got.CreateRevision != 1 || got.ModifyRevision != dst.index {
		t.Errorf("Get(user.jane) after apply = %+v, want CreateRevision 1 and ModifyRevision %d", got, dst.index)
	}
}

func TestSnapshotIsPointInTime(t *testing.T) {
	f := newTestFSM(t, 0)
	buildSnapshotState(f)
	want := listAll(f.View(), ListOptions{})
	wantRev := f.Revision()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	f.must(deleteOp("user.jane"), activateOp("user.zzz", loc1, ""), activateOp("user.jane.Sent", loc3, testACL2))
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	g := NewFSM(0, nil)
	if err := restoreBytes(g, sink.Bytes()); err != nil {
		t.Fatalf("Restore() = %v, want nil error", err)
	}
	if d := diffMailboxes(listAll(g.View(), ListOptions{}), want); d != "" {
		t.Errorf("restored state differs from the state at Snapshot(): %s", d)
	}
	if got := g.Revision(); got != wantRev {
		t.Errorf("Revision() = %d, want %d", got, wantRev)
	}
}

func TestSnapshotEmpty(t *testing.T) {
	b := snapshotBytes(t, NewFSM(0, nil))
	g := newTestFSM(t, 0)
	g.must(activateOp("user.jane", loc1, testACL))
	if err := restoreBytes(g.FSM, b); err != nil {
		t.Fatalf("Restore(empty) = %v, want nil error", err)
	}
	if g.Len() != 0 || g.Revision() != 0 {
		t.Errorf("after Restore(empty): Len() = %d, Revision() = %d, want 0, 0", g.Len(), g.Revision())
	}
}

// failSink fails every write after n bytes.
type failSink struct {
	memSink
	n int
}

func (s *failSink) Write(p []byte) (int, error) {
	if s.Len()+len(p) > s.n {
		return 0, errors.New("disk full")
	}
	return s.memSink.Write(p)
}

func TestSnapshotPersistErrorCancels(t *testing.T) {
	f := newTestFSM(t, 0)
	buildSnapshotState(f)
	full := snapshotBytes(t, f.FSM)
	for _, n := range []int{0, len(full) - 2} {
		snap, _ := f.Snapshot()
		sink := &failSink{n: n}
		if err := snap.Persist(sink); err == nil {
			t.Errorf("Persist(sink failing after %d bytes) = nil, want an error", n)
		}
		if !sink.canceled || sink.closed {
			t.Errorf("Persist(sink failing after %d bytes): canceled=%v closed=%v, want canceled and not closed", n, sink.canceled, sink.closed)
		}
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	src := newTestFSM(t, 0)
	buildSnapshotState(src)
	good := snapshotBytes(t, src.FSM)

	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		return b
	}
	cases := map[string][]byte{
		"empty":             {},
		"magic only":        good[:len(snapshotMagic)],
		"not a snapshot":    []byte("ROOSTSNQ" + string(good[8:])),
		"truncated half":    good[:len(good)/2],
		"truncated -1":      good[:len(good)-1],
		"truncated -4":      good[:len(good)-4],
		"truncated -5":      good[:len(good)-5],
		"flip middle":       flip(len(good) / 2),
		"flip header":       flip(len(snapshotMagic) + 3),
		"flip first record": flip(len(good) / 8),
		"flip checksum":     flip(len(good) - 1),
		"flip near end":     flip(len(good) - 10),
	}
	// Every single-byte flip is caught.
	for i := 0; i < len(good); i += 7 {
		cases[fmt.Sprintf("flip %d", i)] = flip(i)
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			dst := newTestFSM(t, 0)
			dst.must(activateOp("user.keep", loc1, testACL), reserveOp("example.com!user.keep", loc2))
			dst.setMember(Member{ID: "k", GRPCAddr: "k:1"})
			before := listAll(dst.View(), ListOptions{})
			w := dst.WatchView(dst.View(), "")
			defer w.Close()

			err := restoreBytes(dst.FSM, b)
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("Restore(%s) = %v, want %v", name, err, ErrBadSnapshot)
			}
			if d := diffMailboxes(listAll(dst.View(), ListOptions{}), before); d != "" {
				t.Errorf("Restore(%s) changed the state: %s", name, d)
			}
			if got := dst.Revision(); got != 3 {
				t.Errorf("Revision() after Restore(%s) = %d, want 3", name, got)
			}
			if addr, ok := dst.Member("k"); !ok || addr != "k:1" {
				t.Errorf("Member(k) after Restore(%s) = %q, %v, want k:1, true", name, addr, ok)
			}
			// The failed restore does not cut watchers off.
			dst.must(deleteOp("user.keep"))
			if evs, _, err := w.Pending(); err != nil || len(evs) != 1 {
				t.Errorf("Pending() after failed Restore(%s) = %d events, %v, want 1 event", name, len(evs), err)
			}
		})
	}
}

// TestNamesDifferingInSeparatorBytes: "a.b" and "a\x1fb" are distinct
// names with the same Cyrus dbname, which would split the two trees;
// Validate refuses 0x1D and 0x1F (ErrInvalid, as Cyrus's name policy
// would), and the state stays whole.
func TestNamesDifferingInSeparatorBytes(t *testing.T) {
	pairs := [][2]string{
		{"user.a.b", "user.a\x1fb"},
		{"user.a^b", "user\x1fa^b"},
		{"example.com!user.a", "example^com\x1duser.a"},
	}
	for _, p := range pairs {
		t.Run(fmt.Sprintf("%q", p), func(t *testing.T) {
			f := newTestFSM(t, 0)
			f.must(activateOp(p[0], loc1, testACL))
			want := []string{p[0]}
			if err := f.apply(false, activateOp(p[1], loc2, testACL2)).Results[0].Err; !errors.Is(err, ErrInvalid) {
				t.Fatalf("apply ACTIVATE %q = %v, want %v", p[1], err, ErrInvalid)
			}
			if got := f.Len(); got != len(want) {
				t.Errorf("Len() = %d, want %d", got, len(want))
			}
			for _, o := range []ListOptions{{}, {ByteOrder: true}} {
				if got := names(listAll(f.View(), o)); !slices.Equal(got, want) {
					t.Errorf("List(%+v) = %q, want %q", o, got, want)
				}
			}
			snap := snapshotBytes(t, f.FSM)
			if err := restoreBytes(NewFSM(0, nil), snap); err != nil {
				t.Errorf("Restore(snapshot of %q) = %v, want nil error", want, err)
			}
		})
	}
}

// model is an independent map-based implementation of the Cyrus master
// semantics, for checking the FSM against random logs.
type model struct {
	m map[string]Mailbox
}

// apply applies op as Cyrus's master would and returns the result the FSM
// must give: its error, the entry after it and whether the name existed.
func (md *model) apply(op Op, rev uint64) Result {
	if op.Validate() != nil {
		return Result{Err: ErrInvalid}
	}
	cur, ok := md.m[op.Name]
	res := Result{Existed: ok}
	// The kind's own refusals come first (a RESERVE elsewhere is "already
	// exists", a DEACTIVATE of an absent name "not found"); only then may
	// OnlyOn refuse an existing entry on another server.
	wrongServer := func() bool {
		if !ok || len(op.OnlyOn) == 0 {
			return false
		}
		server, _, _ := strings.Cut(cur.Location, "!")
		if slices.Contains(op.OnlyOn, server) {
			return false
		}
		res.Err = ErrWrongServer
		return true
	}
	put := func(st State, loc, acl string) {
		if !ok || cur.State != st || cur.Location != loc || cur.ACL != acl {
			created := rev
			if ok {
				created = cur.CreateRevision
			}
			md.m[op.Name] = Mailbox{Name: op.Name, State: st, Location: loc, ACL: acl, CreateRevision: created, ModifyRevision: rev}
		}
		m := md.m[op.Name]
		res.Mailbox = &m
	}
	switch op.Kind {
	case OpReserve:
		if ok && cur.Location != op.Location {
			res.Err = ErrExists
			return res
		}
		if wrongServer() {
			return res
		}
		put(StateReserved, op.Location, "")
	case OpActivate:
		if wrongServer() {
			return res
		}
		put(StateActive, op.Location, op.ACL)
	case OpDeactivate:
		if !ok {
			res.Err = ErrNotFound
			return res
		}
		if cur.State != StateActive {
			res.Err = ErrNotActive
			return res
		}
		if wrongServer() {
			return res
		}
		put(StateReserved, op.Location, "")
	case OpDelete:
		if wrongServer() {
			return res
		}
		delete(md.m, op.Name)
	}
	return res
}

// applyEntry applies an entry's operations and returns their results.
func (md *model) applyEntry(ops []Op, atomic bool, rev uint64) []Result {
	res := make([]Result, len(ops))
	saved := make(map[string]Mailbox, len(md.m))
	for k, v := range md.m {
		saved[k] = v
	}
	failed := false
	for i, op := range ops {
		res[i] = md.apply(op, rev)
		if res[i].Err != nil {
			failed = true
			if atomic {
				break
			}
		}
	}
	if failed && atomic {
		md.m = saved
		for i := range res {
			if res[i].Err == nil {
				res[i] = Result{Err: ErrAborted}
			}
		}
	}
	return res
}

// diffResult describes how an FSM result differs from the model's, or
// returns "".
func diffResult(got, want Result) string {
	switch {
	case (got.Err == nil) != (want.Err == nil) || !errors.Is(got.Err, want.Err):
		return fmt.Sprintf("Err = %v, want %v", got.Err, want.Err)
	case got.Existed != want.Existed:
		return fmt.Sprintf("Existed = %v, want %v", got.Existed, want.Existed)
	case (got.Mailbox == nil) != (want.Mailbox == nil):
		return fmt.Sprintf("Mailbox = %+v, want %+v", got.Mailbox, want.Mailbox)
	case got.Mailbox != nil && *got.Mailbox != *want.Mailbox:
		return fmt.Sprintf("Mailbox = %+v, want %+v", *got.Mailbox, *want.Mailbox)
	}
	return ""
}

func (md *model) listing() []Mailbox {
	out := make([]Mailbox, 0, len(md.m))
	for _, m := range md.m {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Mailbox) int { return strings.Compare(testDBName(a.Name), testDBName(b.Name)) })
	return out
}

type logEntry struct {
	log    *raft.Log
	ops    []Op
	atomic bool
}

// randKind returns a random operation on a name of pool.
func randKind(rng *rand.Rand, pool, locs, acls []string) Op {
	name := pool[rng.IntN(len(pool))]
	loc := locs[rng.IntN(len(locs))]
	switch r := rng.IntN(100); {
	case r < 25:
		return reserveOp(name, loc)
	case r < 60:
		return activateOp(name, loc, acls[rng.IntN(len(acls))])
	case r < 75:
		return deactivateOp(name, loc)
	case r < 97:
		return deleteOp(name)
	case r < 98:
		return reserveOp(name, "") // invalid
	default:
		return activateOp(name, "a!b!c", "") // invalid
	}
}

// randomLog returns a pseudo-random log of mixed operations, batches and
// member changes.
func randomLog(tb testing.TB, seed uint64, entries int) []logEntry {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var pool []string
	for u := range 30 {
		for _, dom := range []string{"", "example.com!", "e!"} {
			pool = append(pool, fmt.Sprintf("%suser.u%02d", dom, u), fmt.Sprintf("%suser.u%02d.Sent", dom, u),
				fmt.Sprintf("%suser.u%02d-x", dom, u), fmt.Sprintf("%suser.u%02d^y", dom, u))
		}
	}
	locs := []string{loc1, loc2, loc3, "be03!default", "default"}
	acls := []string{"", testACL, testACL2, "anyone\tlrs\t"}
	// Servers of locs, and one no entry is on, to confine operations to.
	servers := []string{"be01", "be02", "be03", "default", "be09"}
	randOp := func() Op {
		op := randKind(rng, pool, locs, acls)
		if rng.IntN(5) == 0 {
			op.OnlyOn = make([]string, 1+rng.IntN(2))
			for k := range op.OnlyOn {
				op.OnlyOn[k] = servers[rng.IntN(len(servers))]
			}
		}
		return op
	}
	var out []logEntry
	for i := 1; i <= entries; i++ {
		index := uint64(i)
		if r := rng.IntN(100); r < 3 {
			var data []byte
			var err error
			if r < 2 {
				data, err = encodeSetMember(Member{ID: fmt.Sprintf("n%d", rng.IntN(4)), GRPCAddr: fmt.Sprintf("10.0.0.%d:7000", rng.IntN(255))})
			} else {
				data, err = encodeRemoveMember(fmt.Sprintf("n%d", rng.IntN(4)))
			}
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, logEntry{log: &raft.Log{Index: index, Type: raft.LogCommand, Data: data}})
			continue
		} else if r < 5 {
			out = append(out, logEntry{log: &raft.Log{Index: index, Type: raft.LogNoop}})
			continue
		}
		n, atomic := 1, false
		if rng.IntN(4) == 0 {
			n, atomic = 2+rng.IntN(20), rng.IntN(2) == 0
		}
		ops := make([]Op, n)
		for j := range ops {
			ops[j] = randOp()
		}
		out = append(out, logEntry{log: commandLog(tb, index, atomic, ops...), ops: ops, atomic: atomic})
	}
	return out
}

func sameResponse(a, b any) bool {
	ra, okA := a.(*ApplyResponse)
	rb, okB := b.(*ApplyResponse)
	if okA != okB || (!okA && a != b) {
		return false
	}
	if !okA {
		return true
	}
	if ra.Revision != rb.Revision || len(ra.Results) != len(rb.Results) {
		return false
	}
	for i := range ra.Results {
		x, y := ra.Results[i], rb.Results[i]
		if fmt.Sprint(x.Err) != fmt.Sprint(y.Err) || x.Existed != y.Existed || (x.Mailbox == nil) != (y.Mailbox == nil) ||
			(x.Mailbox != nil && *x.Mailbox != *y.Mailbox) {
			return false
		}
	}
	return true
}

func TestDeterminism(t *testing.T) {
	const entries = 4000
	log := randomLog(t, 42, entries)

	// a applies one entry at a time, b in random runs with ApplyBatch.
	a, b := NewFSM(0, nil), NewFSM(0, nil)
	md := &model{m: map[string]Mailbox{}}
	rng := rand.New(rand.NewPCG(7, 7))
	var respA []any
	for _, e := range log {
		respA = append(respA, a.Apply(e.log))
		if e.ops != nil {
			want := md.applyEntry(e.ops, e.atomic, e.log.Index)
			r := respA[len(respA)-1].(*ApplyResponse)
			for i := range want {
				if d := diffResult(r.Results[i], want[i]); d != "" {
					t.Fatalf("entry %d op %d %v %q (atomic %v): %s (model)",
						e.log.Index, i, e.ops[i].Kind, e.ops[i].Name, e.atomic, d)
				}
			}
		}
	}
	var respB []any
	for i := 0; i < len(log); {
		n := min(1+rng.IntN(64), len(log)-i)
		logs := make([]*raft.Log, n)
		for j := range logs {
			logs[j] = log[i+j].log
		}
		respB = append(respB, b.ApplyBatch(logs)...)
		i += n
	}
	for i := range respA {
		if !sameResponse(respA[i], respB[i]) {
			t.Fatalf("entry %d: Apply() = %+v, ApplyBatch() = %+v, want equal", i+1, respA[i], respB[i])
		}
	}
	var lastCmd uint64
	for _, e := range log {
		if e.log.Type == raft.LogCommand {
			lastCmd = e.log.Index
		}
	}
	if a.Revision() != lastCmd || b.Revision() != lastCmd {
		t.Errorf("Revision() = %d and %d, want %d", a.Revision(), b.Revision(), lastCmd)
	}
	if a.Len() < 50 {
		t.Errorf("Len() = %d after %d random entries, want a populated table (bad generator)", a.Len(), entries)
	}
	for _, o := range []ListOptions{{}, {ByteOrder: true}} {
		if d := diffMailboxes(listAll(b.View(), o), listAll(a.View(), o)); d != "" {
			t.Errorf("List(%+v): b differs from a: %s", o, d)
		}
	}
	if d := diffMailboxes(listAll(a.View(), ListOptions{}), md.listing()); d != "" {
		t.Errorf("List(): FSM differs from the model: %s", d)
	}
	// The byte-order tree is written first and put back on refusals and
	// repeats: it must end up holding what the model does too.
	byBytes := md.listing()
	slices.SortFunc(byBytes, func(x, y Mailbox) int { return strings.Compare(x.Name, y.Name) })
	if d := diffMailboxes(listAll(a.View(), ListOptions{ByteOrder: true}), byBytes); d != "" {
		t.Errorf("List(ByteOrder): FSM differs from the model: %s", d)
	}
	for id := range 4 {
		addrA, okA := a.Member(fmt.Sprintf("n%d", id))
		addrB, okB := b.Member(fmt.Sprintf("n%d", id))
		if addrA != addrB || okA != okB {
			t.Errorf("Member(n%d) = %q, %v and %q, %v, want equal", id, addrA, okA, addrB, okB)
		}
	}
	snapA, snapB := snapshotBytes(t, a), snapshotBytes(t, b)
	if !bytes.Equal(snapA, snapB) {
		t.Errorf("snapshots differ: %d and %d bytes", len(snapA), len(snapB))
	}
	c := NewFSM(0, nil)
	if err := restoreBytes(c, snapA); err != nil {
		t.Fatal(err)
	}
	if snapC := snapshotBytes(t, c); !bytes.Equal(snapC, snapA) {
		t.Errorf("snapshot of restored FSM differs: %d and %d bytes", len(snapC), len(snapA))
	}
}

// listTestFSM holds orderTestNames with varied states, locations and ACLs.
func listTestFSM(t *testing.T) (*testFSM, []Mailbox) {
	f := newTestFSM(t, 0)
	locs := []string{loc1, loc2, loc3, "be10!default"}
	all := orderTestNames()
	rng := rand.New(rand.NewPCG(5, 6))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i, n := range all {
		if i%5 == 0 {
			f.must(reserveOp(n, locs[i%len(locs)]))
		} else {
			f.must(activateOp(n, locs[i%len(locs)], fmt.Sprintf("u%d\tlrs\t", i%3)))
		}
	}
	return f, listAll(f.View(), ListOptions{ByteOrder: true})
}

// bruteList filters and sorts every entry.
func bruteList(all []Mailbox, o ListOptions, pat string) []Mailbox {
	var out []Mailbox
	for _, m := range all {
		if strings.HasPrefix(m.Name, o.Prefix) && strings.HasPrefix(m.Location, o.LocationPrefix) &&
			(o.Pattern == nil || refMatch(pat, m.Name)) {
			out = append(out, m)
		}
	}
	cmp := func(a, b Mailbox) int { return CompareCyrus(a.Name, b.Name) }
	if o.ByteOrder {
		cmp = func(a, b Mailbox) int { return strings.Compare(a.Name, b.Name) }
	}
	slices.SortFunc(out, cmp)
	if o.After != "" {
		i := slices.IndexFunc(out, func(m Mailbox) bool {
			if o.ByteOrder {
				return m.Name > o.After
			}
			return CompareCyrus(m.Name, o.After) > 0
		})
		if i < 0 {
			i = len(out)
		}
		out = out[i:]
	}
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out
}

func TestList(t *testing.T) {
	f, all := listTestFSM(t)
	if len(all) != len(orderTestNames()) {
		t.Fatalf("byte-order listing has %d entries, want %d", len(all), len(orderTestNames()))
	}
	v := f.View()
	prefixes := []string{"", "e", "e.", "e!", "e!user.", "ex", "exa", "example", "example.", "example.c",
		"example.com", "example.com!", "example.com!user.", "example.com!user.jane", "example.com!user.jane.",
		"e.org", "e.org!", "user", "user.", "user.jane", "user.jane.", "user.jane^", "user.jane^x", "user.jane-",
		"DELETED.", "DELETED.user.bob.Trash.", "shared", "zzz", "^", ".", "!", "user.x.2023"}
	patterns := []string{"", "*", "%", "user.%", "user.%.Sent", "*.Sent", "example.com!user.*", "e%", "%!user.jane",
		"user.jane%", "DELETED.*", "*jane*", "e*"}
	locPrefixes := []string{"", "be01!", "be02!default", "be", "nomatch"}
	for _, byteOrder := range []bool{false, true} {
		for _, prefix := range prefixes {
			for _, pat := range patterns {
				for _, lp := range locPrefixes {
					o := ListOptions{Prefix: prefix, LocationPrefix: lp, ByteOrder: byteOrder}
					if pat != "" {
						o.Pattern = mustPattern(t, pat)
					}
					want := bruteList(all, o, pat)
					desc := fmt.Sprintf("List(prefix %q pattern %q location %q byteOrder %v)", prefix, pat, lp, byteOrder)
					if d := diffMailboxes(listAll(v, o), want); d != "" {
						t.Errorf("%s: %s", desc, d)
						continue
					}
					if lp != "" && lp != "be02!default" {
						continue
					}
					// Page through with Limit 7.
					var paged []Mailbox
					p := o
					p.Limit = 7
					for pages := 0; ; pages++ {
						page := listAll(v, p)
						if len(page) > 7 {
							t.Errorf("%s: page after %q has %d entries, want at most 7", desc, p.After, len(page))
						}
						paged = append(paged, page...)
						if len(page) < 7 || pages > len(all) {
							break
						}
						p.After = page[len(page)-1].Name
					}
					if d := diffMailboxes(paged, want); d != "" {
						t.Errorf("%s paged by 7: %s", desc, d)
					}
				}
			}
		}
	}
}

func TestListAfterAndLimit(t *testing.T) {
	f, all := listTestFSM(t)
	v := f.View()
	for _, byteOrder := range []bool{false, true} {
		for _, prefix := range []string{"", "e", "user.jane", "example.com!", "user.jane."} {
			full := bruteList(all, ListOptions{Prefix: prefix, ByteOrder: byteOrder}, "")
			// After each listed name, and after names that are not stored.
			afters := names(full)
			afters = append(afters, "user.jane.A", "user.jane.zzz", "example.com!user.jane.b", "e.y", "a", "zzzz")
			for _, after := range afters {
				for _, limit := range []int{0, 1, 3} {
					o := ListOptions{Prefix: prefix, ByteOrder: byteOrder, After: after, Limit: limit}
					want := bruteList(all, o, "")
					if d := diffMailboxes(listAll(v, o), want); d != "" {
						t.Errorf("List(prefix %q after %q limit %d byteOrder %v): %s", prefix, after, limit, byteOrder, d)
					}
				}
			}
		}
	}
}

func TestListStopsWhenCallbackReturnsFalse(t *testing.T) {
	f, _ := listTestFSM(t)
	v := f.View()
	for _, o := range []ListOptions{{}, {ByteOrder: true}, {Prefix: "e"}, {Prefix: "e."}, {Prefix: "user."}} {
		n := 0
		v.List(o, func(Mailbox) bool {
			n++
			return n < 3
		})
		if n != 3 {
			t.Errorf("List(%+v) called fn %d times after it returned false at 3, want 3", o, n)
		}
	}
}

func TestListPrefixAcrossDomains(t *testing.T) {
	f := newTestFSM(t, 0)
	f.must(activateOp("example.com!user.a", loc1, ""), activateOp("ex.y", loc1, ""), activateOp("e.x", loc1, ""),
		activateOp("example.foo", loc1, ""), activateOp("example.com!user.a.Sent", loc2, testACL),
		activateOp("f", loc1, ""), activateOp("d.x", loc1, ""))
	tests := []struct {
		prefix string
		want   []string
	}{
		{"e", []string{"e.x", "ex.y", "example.foo", "example.com!user.a", "example.com!user.a.Sent"}},
		{"ex", []string{"ex.y", "example.foo", "example.com!user.a", "example.com!user.a.Sent"}},
		{"example.", []string{"example.foo", "example.com!user.a", "example.com!user.a.Sent"}},
		{"example.com", []string{"example.com!user.a", "example.com!user.a.Sent"}},
		{"example.com!user.a.", []string{"example.com!user.a.Sent"}},
		{"e.", []string{"e.x"}},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 1, 2} {
			got := names(listAll(f.View(), ListOptions{Prefix: tt.prefix, Limit: limit}))
			want := tt.want
			if limit > 0 && len(want) > limit {
				want = want[:limit]
			}
			if !slices.Equal(got, want) {
				t.Errorf("List(prefix %q, limit %d) = %q, want %q", tt.prefix, limit, got, want)
			}
		}
	}
}

// TestRestoreKeepsAppliedIndex: a snapshot carries the index of the last
// entry the FSM saw, configuration changes included, so a node restored
// from it can satisfy a read index taken on the leader.
func TestRestoreKeepsAppliedIndex(t *testing.T) {
	src := NewFSM(0, nil)
	src.Apply(commandLog(t, 5, false, activateOp("user.a", "be1!", "")))
	src.ApplyBatch([]*raft.Log{{Index: 7, Type: raft.LogConfiguration}})
	if got := src.AppliedIndex(); got != 7 {
		t.Fatalf("AppliedIndex() = %d, want 7", got)
	}
	dst := NewFSM(0, nil)
	if err := restoreBytes(dst, snapshotBytes(t, src)); err != nil {
		t.Fatal(err)
	}
	if got, rev := dst.AppliedIndex(), dst.Revision(); got != 7 || rev != 5 {
		t.Errorf("after restore AppliedIndex() = %d, Revision() = %d, want 7, 5", got, rev)
	}
}
