package raftfsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"runtime"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
	raftlogv1 "github.com/roost-mail/roost/proto/roost/raftlog/v1"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
)

// craftSnapshot writes a snapshot stream from raw records with a valid
// checksum, so that seeds can reach the checks made after the checksum
// (and hold what WriteSnapshot would never write).
func craftSnapshot(tb testing.TB, hdr *raftlogv1.SnapshotHeader, recs ...*raftlogv1.Entry) []byte {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString(snapshotMagic)
	if _, err := protodelim.MarshalTo(&b, hdr); err != nil {
		tb.Fatalf("protodelim.MarshalTo(header) = %v, want nil error", err)
	}
	for _, r := range recs {
		if _, err := protodelim.MarshalTo(&b, r); err != nil {
			tb.Fatalf("protodelim.MarshalTo(entry) = %v, want nil error", err)
		}
	}
	return withChecksum(b.Bytes())
}

// withChecksum appends the CRC-32C of body, as WriteSnapshot does.
func withChecksum(body []byte) []byte {
	return binary.BigEndian.AppendUint32(slices.Clone(body), crc32.Checksum(body, crcTable))
}

// fixChecksum replaces the last four bytes of b with the checksum of the
// bytes before them: random mutations almost never keep a CRC valid, and
// without this the fuzzer could not get past it.
func fixChecksum(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	return withChecksum(b[:len(b)-4])
}

func writeView(tb testing.TB, v *View) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := v.WriteSnapshot(&b); err != nil {
		tb.Fatalf("WriteSnapshot() = %v, want nil error", err)
	}
	return b.Bytes()
}

func viewOf(st *snapshotState) *View {
	return &View{tab: st.tab, revision: st.revision, index: st.index, members: st.members}
}

// snapshotSeeds returns valid snapshots and damaged variants of them.
func snapshotSeeds(tb testing.TB) [][]byte {
	full := newTestFSM(tb, 0)
	buildSnapshotState(full)
	good := snapshotBytes(tb, full.FSM)

	small := newTestFSM(tb, 0)
	small.must(activateOp("user.jane", loc1, testACL), reserveOp("example.com!user.a", loc2))
	small.setMember(Member{ID: "n1", GRPCAddr: "10.0.0.1:7000"})

	flipped := slices.Clone(good)
	flipped[len(flipped)/2] ^= 0x5a
	hdr := func(n uint64) *raftlogv1.SnapshotHeader {
		return &raftlogv1.SnapshotHeader{FormatVersion: snapshotVersion, Revision: 9, Entries: n,
			Members: []*raftlogv1.Member{{Id: "n1", GrpcAddress: "a:1"}}}
	}
	rec := func(name string, st raftlogv1.EntryState, acl string) *raftlogv1.Entry {
		return &raftlogv1.Entry{Name: []byte(name), State: st, Location: []byte(loc1), Acl: []byte(acl),
			CreateRevision: 3, ModifyRevision: 7}
	}
	active, reserved := raftlogv1.EntryState_ENTRY_STATE_ACTIVE, raftlogv1.EntryState_ENTRY_STATE_RESERVED
	return [][]byte{
		snapshotBytes(tb, NewFSM(0, nil)),
		snapshotBytes(tb, small.FSM),
		good,
		good[:len(good)/2],
		good[:len(good)-1],
		good[:len(snapshotMagic)],
		flipped,
		{},
		[]byte("ROOSTSNQ not a snapshot"),
		// Valid checksums over records WriteSnapshot would not write:
		// out of Cyrus order, a duplicate, a bad state, a reserved
		// entry with an ACL, a count that does not match.
		craftSnapshot(tb, hdr(2), rec("user.b", active, testACL), rec("user.a", reserved, "")),
		craftSnapshot(tb, hdr(2), rec("user.a", active, testACL), rec("user.a", active, testACL)),
		craftSnapshot(tb, hdr(1), rec("user.a", raftlogv1.EntryState_ENTRY_STATE_UNSPECIFIED, "")),
		craftSnapshot(tb, hdr(1), rec("user.a", reserved, testACL)),
		craftSnapshot(tb, hdr(3), rec("user.a", active, testACL)),
		craftSnapshot(tb, &raftlogv1.SnapshotHeader{FormatVersion: 2}),
	}
}

// FuzzReadSnapshot: readSnapshot never panics and refuses with
// ErrBadSnapshot; what it accepts is exactly what the input holds, and
// writing it out and reading it back is stable.
func FuzzReadSnapshot(f *testing.F) {
	for _, b := range snapshotSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkReadSnapshot(t, data)
		if fixed := fixChecksum(data); !bytes.Equal(fixed, data) {
			checkReadSnapshot(t, fixed)
		}
	})
}

func checkReadSnapshot(t *testing.T, data []byte) {
	st, err := readSnapshot(bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("readSnapshot(%q) = %v, want an error wrapping %v", data, err, ErrBadSnapshot)
		}
		return
	}
	v := viewOf(st)
	if cyrus, byName := len(listAll(v, ListOptions{})), len(listAll(v, ListOptions{ByteOrder: true})); cyrus != v.Len() || byName != v.Len() {
		t.Fatalf("readSnapshot(%q): List() has %d entries, List(ByteOrder) %d, Len() %d, want equal", data, cyrus, byName, v.Len())
	}
	checkFaithful(t, data, st)
	first := writeView(t, v)
	st2, err := readSnapshot(bytes.NewReader(first))
	if err != nil {
		t.Fatalf("readSnapshot(WriteSnapshot(readSnapshot(%q))) = %v, want nil error", data, err)
	}
	if st2.revision != st.revision || st2.tab.len() != st.tab.len() || len(st2.members) != len(st.members) {
		t.Errorf("re-read snapshot = revision %d, %d entries, %d members, want %d, %d, %d",
			st2.revision, st2.tab.len(), len(st2.members), st.revision, st.tab.len(), len(st.members))
	}
	if second := writeView(t, viewOf(st2)); !bytes.Equal(second, first) {
		t.Errorf("WriteSnapshot(re-read state) = %q, want %q", second, first)
	}
}

// checkFaithful decodes data's records independently of readSnapshot and
// checks that the accepted state holds each of them unchanged: a snapshot
// must be restored as it is or refused, never altered.
func checkFaithful(t *testing.T, data []byte, st *snapshotState) {
	r := bufio.NewReader(bytes.NewReader(data[len(snapshotMagic):]))
	var hdr raftlogv1.SnapshotHeader
	if err := protodelim.UnmarshalFrom(r, &hdr); err != nil {
		t.Fatalf("header of accepted snapshot %q: %v", data, err)
	}
	if st.revision != hdr.Revision {
		t.Errorf("readSnapshot(%q) revision = %d, want %d", data, st.revision, hdr.Revision)
	}
	for _, m := range hdr.Members {
		if _, ok := st.members[m.Id]; !ok {
			t.Errorf("readSnapshot(%q) lost member %q", data, m.Id)
		}
	}
	if uint64(st.tab.len()) != hdr.Entries {
		t.Errorf("readSnapshot(%q) has %d entries, want %d", data, st.tab.len(), hdr.Entries)
	}
	for i := uint64(0); i < hdr.Entries; i++ {
		var rec raftlogv1.Entry
		if err := protodelim.UnmarshalFrom(r, &rec); err != nil {
			t.Fatalf("entry %d of accepted snapshot %q: %v", i, data, err)
		}
		want := Mailbox{Name: string(rec.Name), State: State(rec.State), Location: string(rec.Location),
			ACL: string(rec.Acl), CreateRevision: rec.CreateRevision, ModifyRevision: rec.ModifyRevision}
		got := mailboxOf(st.tab.get(want.Name))
		switch {
		case got == nil:
			t.Errorf("readSnapshot(%q) lost entry %d %q", data, i, rec.Name)
		case int32(got.State) != int32(rec.State):
			t.Errorf("readSnapshot(%q) entry %q state = %d, want %d (accepted, then changed; entryFromRecord should refuse states other than 1 and 2 before converting)",
				data, rec.Name, got.State, rec.State)
		case *got != want:
			t.Errorf("readSnapshot(%q) entry %q = %+v, want %+v (accepted, then changed)", data, rec.Name, *got, want)
		}
	}
}

// fuzzBase is the state FuzzDecodeCommand applies each input on: entries
// the operations can meet, and a member.
var fuzzBase = []Op{
	activateOp("user.jane", loc1, testACL),
	reserveOp("user.bob", loc2),
	activateOp("example.com!user.a", loc2, testACL2),
}

func commandSeeds(tb testing.TB) [][]byte {
	ops := func(atomic bool, ops ...Op) []byte { return commandLog(tb, 1, atomic, ops...).Data }
	encoded := func(b []byte, err error) []byte {
		if err != nil {
			tb.Fatalf("encode member command = %v, want nil error", err)
		}
		return b
	}
	seeds := [][]byte{
		ops(false, reserveOp("user.new", loc1)),
		ops(false, reserveOp("user.jane", loc2)),
		ops(false, activateOp("user.bob", loc2, testACL)),
		ops(false, activateOp("user.x", "default", "")),
		ops(false, deactivateOp("user.jane", loc3)),
		ops(false, deactivateOp("user.bob", loc2)),
		ops(false, deactivateOp("user.none", loc2)),
		ops(false, deleteOp("user.jane")),
		ops(false, deleteOp("user.none")),
		ops(false, reserveOp("", loc1)),
		ops(false, activateOp("user.x", "a!b!c", "")),
		ops(false, reserveOp("user.x\x1fy", loc1)),
		ops(false, activateOp("user.a", loc1, testACL), deactivateOp("user.a", loc2), deleteOp("user.jane"), reserveOp("user.bob", loc1)),
		ops(true, activateOp("user.a", loc1, testACL), reserveOp("user.b", loc2)),
		ops(true, activateOp("user.a", loc1, testACL), deactivateOp("user.bob", loc2)),
		ops(true, deleteOp("user.jane")),
		ops(true, reserveOp("user.a", loc1), reserveOp("", loc1)),
		ops(false, onlyOn(deleteOp("user.jane"), "be01")),
		ops(false, onlyOn(deleteOp("user.jane"), "be02", "be01"), onlyOn(activateOp("user.bob", loc1, ""), "be01"), reserveOp("user.c", loc3)),
		ops(true, onlyOn(deactivateOp("user.bob", loc2), "be02"), onlyOn(reserveOp("user.new", loc1), "be03")),
		legacyBatch(tb, false, activateOp("user.a", loc1, testACL), deleteOp("user.jane"), reserveOp("user.bob", loc1)),
		legacyBatch(tb, true, activateOp("user.a", loc1, testACL), deactivateOp("user.bob", loc2)),
		encoded(encodeSetMember(Member{ID: "n2", GRPCAddr: "10.0.0.2:7000"})),
		encoded(encodeSetMember(Member{})),
		encoded(encodeRemoveMember("n1")),
		encoded(encodeRemoveMember("")),
		{formatProtoV1},
		{formatProtoV1, 0xff, 0xff},
		{2, 1, 2},
		{},
	}
	for _, spoil := range spoilOps {
		seeds = append(seeds, badOps(tb, spoil))
	}
	return seeds
}

// FuzzDecodeCommand: decodeCommand never panics; Apply panics exactly when
// it fails, and otherwise applies the entry as the model does.
func FuzzDecodeCommand(f *testing.F) {
	for _, b := range commandSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := decodeCommand(data)
		if err != nil {
			if !applyPanics(data) {
				t.Fatalf("Apply(%q) did not panic, want a panic: decodeCommand = %v", data, err)
			}
			return
		}
		checkReencode(t, data, cmd)
		fsm := newTestFSM(t, 0)
		md := &model{m: map[string]Mailbox{}}
		for _, op := range fuzzBase {
			fsm.must(op)
			md.applyEntry([]Op{op}, false, fsm.index)
		}
		fsm.setMember(Member{ID: "n1", GRPCAddr: "10.0.0.1:7000"})
		fsm.index++
		got := fsm.Apply(&raft.Log{Index: fsm.index, Term: 1, Type: raft.LogCommand, Data: data})
		switch {
		case cmd.setMember != nil:
			if addr, ok := fsm.Member(cmd.setMember.ID); got != nil || !ok || addr != cmd.setMember.GRPCAddr {
				t.Errorf("Apply(set member %+v) = %v; Member() = %q, %v, want nil; %q, true", *cmd.setMember, got, addr, ok, cmd.setMember.GRPCAddr)
			}
		case cmd.rmMember != "":
			if addr, ok := fsm.Member(cmd.rmMember); got != nil || ok {
				t.Errorf("Apply(remove member %q) = %v; Member() = %q, %v, want nil; absent", cmd.rmMember, got, addr, ok)
			}
		default:
			checkOpsApplied(t, fsm, md, cmd, got)
		}
		if d := diffMailboxes(listAll(fsm.View(), ListOptions{}), md.listing()); d != "" {
			t.Errorf("List() after Apply(%q): FSM differs from the model: %s", data, d)
		}
		g := NewFSM(0, nil)
		if err := restoreBytes(g, snapshotBytes(t, fsm.FSM)); err != nil {
			t.Fatalf("Restore(snapshot after Apply(%q)) = %v, want nil error", data, err)
		}
		if d := diffMailboxes(listAll(g.View(), ListOptions{}), md.listing()); d != "" {
			t.Errorf("List() after snapshot and restore: %s", d)
		}
	})
}

func applyPanics(data []byte) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	NewFSM(0, nil).Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	return false
}

// checkReencode: encoding the decoded operations again decodes to the same
// operations.
func checkReencode(t *testing.T, data []byte, cmd command) {
	if cmd.setMember != nil || cmd.rmMember != "" {
		return
	}
	again, err := decodeCommand(commandLog(t, 1, cmd.atomic, cmd.ops...).Data)
	if err != nil {
		t.Fatalf("decodeCommand(encodeOps(decodeCommand(%q))) = %v, want nil error", data, err)
	}
	if !slices.EqualFunc(again.ops, cmd.ops, func(a, b Op) bool { return reflect.DeepEqual(a, b) }) || again.atomic != cmd.atomic {
		t.Errorf("decodeCommand(encodeOps(%+v, %v)) = %+v, %v, want the same", cmd.ops, cmd.atomic, again.ops, again.atomic)
	}
}

func checkOpsApplied(t *testing.T, fsm *testFSM, md *model, cmd command, got any) {
	resp, ok := got.(*ApplyResponse)
	if !ok || resp.Revision != fsm.index || len(resp.Results) != len(cmd.ops) {
		t.Fatalf("Apply(%d ops) = %#v, want *ApplyResponse at revision %d with %d results", len(cmd.ops), got, fsm.index, len(cmd.ops))
	}
	want := md.applyEntry(cmd.ops, cmd.atomic, fsm.index)
	for i, r := range resp.Results {
		if d := diffResult(r, want[i]); d != "" {
			t.Errorf("Apply op %d %v %q (atomic %v): %s (model)", i, cmd.ops[i].Kind, cmd.ops[i].Name, cmd.atomic, d)
		}
	}
}

// TestReadSnapshotRefusesUnrepresentableRecords: a record the table cannot
// hold as it is must be refused, not restored altered. The checksums are
// valid, so only the record checks can catch these.
//
// A snapshot record with a state other than RESERVED or ACTIVE, or a
// revision an entry cannot hold, is refused rather than changed.
func TestReadSnapshotRefusesUnrepresentableRecords(t *testing.T) {
	hdr := &raftlogv1.SnapshotHeader{FormatVersion: snapshotVersion, Revision: 1<<51 - 1, Entries: 1}
	active := raftlogv1.EntryState_ENTRY_STATE_ACTIVE
	tests := []struct {
		name string
		rec  *raftlogv1.Entry
	}{
		{"state 257", &raftlogv1.Entry{Name: []byte("user.a"), State: 257, Location: []byte(loc1)}},
		{"state 258", &raftlogv1.Entry{Name: []byte("user.a"), State: 258, Location: []byte(loc1), Acl: []byte(testACL)}},
		{"state -255", &raftlogv1.Entry{Name: []byte("user.a"), State: -255, Location: []byte(loc1)}},
		{"modify revision 2^51", &raftlogv1.Entry{Name: []byte("user.a"), State: active, Location: []byte(loc1), ModifyRevision: 1 << 51}},
		{"modify revision 2^64-1", &raftlogv1.Entry{Name: []byte("user.a"), State: active, Location: []byte(loc1), ModifyRevision: 1<<64 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := readSnapshot(bytes.NewReader(craftSnapshot(t, hdr, tt.rec)))
			if err == nil {
				got := mailboxOf(st.tab.get("user.a"))
				t.Fatalf("readSnapshot(record %v) = %+v, nil, want an error wrapping %v", tt.rec, got, ErrBadSnapshot)
			}
			if !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("readSnapshot(record %v) = %v, want an error wrapping %v", tt.rec, err, ErrBadSnapshot)
			}
		})
	}
	// The limits themselves are fine.
	ok := &raftlogv1.Entry{Name: []byte("user.a"), State: active, Location: []byte(loc1), ModifyRevision: 1<<51 - 1}
	if _, err := readSnapshot(bytes.NewReader(craftSnapshot(t, hdr, ok))); err != nil {
		t.Errorf("readSnapshot(record %v) = %v, want nil error", ok, err)
	}
}

// TestReadSnapshotBoundsAllocation: what readSnapshot allocates must follow
// what it reads, not what a header claims, since RestoreSnapshot takes
// snapshots from clients.
//
// A header claiming a huge entry count must not make the reader allocate
// for it before any record arrives.
func TestReadSnapshotBoundsAllocation(t *testing.T) {
	b := craftSnapshot(t, &raftlogv1.SnapshotHeader{FormatVersion: snapshotVersion, Entries: 1 << 40})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readSnapshot(bytes.NewReader(b))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("readSnapshot(header claiming 2^40 entries, no records) = %v, want an error wrapping %v", err, ErrBadSnapshot)
	}
	const limit = 16 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > limit {
		t.Errorf("readSnapshot(%d bytes claiming 2^40 entries) allocated %d MiB, want at most %d MiB", len(b), got>>20, limit>>20)
	}
}

// legacyBatch encodes operations as Batch, which leaders wrote before Ops
// and every node must still read.
func legacyBatch(tb testing.TB, atomic bool, ops ...Op) []byte {
	b := &raftlogv1.Batch{Atomic: atomic}
	for _, op := range ops {
		b.Commands = append(b.Commands, opToProto(op))
	}
	data, err := marshal(&raftlogv1.Command{Op: &raftlogv1.Command_Batch{Batch: b}})
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// badOps encodes a well-formed Ops batch of two operations spoiled by
// spoil.
// spoilOps each break a column-wise batch in a way decoding must refuse.
var spoilOps = []func(*raftlogv1.Ops){
	func(o *raftlogv1.Ops) { o.NameLengths = o.NameLengths[:1] },
	func(o *raftlogv1.Ops) { o.LocationLengths = append(o.LocationLengths, 0) },
	func(o *raftlogv1.Ops) { o.NameLengths[1] = 1 << 31 },
	func(o *raftlogv1.Ops) { o.NameLengths[0]++ },
	func(o *raftlogv1.Ops) { o.AclLengths[0]-- },
	func(o *raftlogv1.Ops) { o.Kinds[1] = 9 },
	func(o *raftlogv1.Ops) { o.Kinds[0] = 0 },
	func(o *raftlogv1.Ops) { o.OnlyOnCounts = o.OnlyOnCounts[:1] },
	func(o *raftlogv1.Ops) { o.OnlyOnCounts = nil },
	func(o *raftlogv1.Ops) { o.OnlyOnCounts[1] = 1 },
	func(o *raftlogv1.Ops) { o.OnlyOnCounts[0] = 1 << 31 },
	func(o *raftlogv1.Ops) { o.OnlyOnLengths[0]++ },
	func(o *raftlogv1.Ops) { o.OnlyOnLengths[1] = 1 << 31 },
	func(o *raftlogv1.Ops) { o.OnlyOnLengths = append(o.OnlyOnLengths, 0) },
	func(o *raftlogv1.Ops) { o.OnlyOn = append(o.OnlyOn, 'x') },
}

func badOps(tb testing.TB, spoil func(*raftlogv1.Ops)) []byte {
	data, err := encodeOps([]Op{onlyOn(activateOp("user.a", loc1, testACL), "be01", "be02"), reserveOp("user.b", loc2)}, false, LogFormat)
	if err != nil {
		tb.Fatal(err)
	}
	var cmd raftlogv1.Command
	if err := proto.Unmarshal(data[1:], &cmd); err != nil {
		tb.Fatal(err)
	}
	spoil(cmd.GetConfinedOps())
	if data, err = marshal(&cmd); err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestDecodeOps: an Ops batch decodes to its operations, a legacy Batch
// to the same ones, and a spoiled Ops batch is refused.
func TestDecodeOps(t *testing.T) {
	ops := []Op{activateOp("user.a", loc1, testACL), deleteOp("user.jane"), reserveOp("user.b", loc2), deactivateOp("user.c", loc3)}
	data, err := encodeOps(ops, true, LogFormat)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"ops": data, "legacy batch": legacyBatch(t, true, ops...)} {
		cmd, err := decodeCommand(data)
		if err != nil || !reflect.DeepEqual(cmd.ops, ops) || !cmd.atomic {
			t.Errorf("%s: decodeCommand = %+v, %v, %v, want %+v, true", name, cmd.ops, cmd.atomic, err, ops)
		}
	}
	// Servers in a plain Ops batch, which builds before LogFormatOnlyOn
	// would apply without them, are refused.
	var cmd raftlogv1.Command
	if err := proto.Unmarshal(badOps(t, func(*raftlogv1.Ops) {})[1:], &cmd); err != nil {
		t.Fatal(err)
	}
	cmd.Op = &raftlogv1.Command_Ops{Ops: cmd.GetConfinedOps()}
	plain, err := marshal(&cmd)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeCommand(plain); err == nil {
		t.Errorf("Ops with servers decoded to %+v, want an error", got.ops)
	}
	// Confined operations keep their servers, even alone, and cannot go
	// out in an older format.
	for _, format := range []uint32{0, LogFormatOps} {
		if _, err := encodeOps([]Op{onlyOn(deleteOp("user.jane"), "be01"), deleteOp("user.b")}, false, format); !errors.Is(err, ErrCannotConfine) {
			t.Errorf("encodeOps(confined, format %d) = %v, want ErrCannotConfine", format, err)
		}
	}
	confined := []Op{onlyOn(deleteOp("user.jane"), "be01", "be02"), reserveOp("user.b", loc2), onlyOn(deactivateOp("user.c", loc3), "be02")}
	for _, ops := range [][]Op{confined, confined[:1]} {
		data, err := encodeOps(ops, false, LogFormat)
		if err != nil {
			t.Fatal(err)
		}
		if cmd, err := decodeCommand(data); err != nil || !reflect.DeepEqual(cmd.ops, ops) {
			t.Errorf("decodeCommand(encodeOps(%+v)) = %+v, %v, want the same ops", ops, cmd.ops, err)
		}
	}
	for i, spoil := range spoilOps {
		if cmd, err := decodeCommand(badOps(t, spoil)); err == nil {
			t.Errorf("spoiled batch %d decoded to %+v, want an error", i, cmd.ops)
		}
	}
}
