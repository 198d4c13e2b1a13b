package raftfsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"unsafe"

	"github.com/hashicorp/raft"
	raftlogv1 "github.com/roost-mail/roost/proto/roost/raftlog/v1"
	"google.golang.org/protobuf/encoding/protodelim"
)

// A snapshot is streamed, never built in memory:
//
//	"ROOSTSNP" | header | entries × Entry | CRC-32C (big endian)
//
// where header and entries are varint-delimited protobuf messages of
// roost.raftlog.v1, entries come in Cyrus order, and the checksum covers
// every byte before it. A reader checks the count and the checksum, so a
// truncated or damaged file is refused instead of half restored.
const (
	snapshotMagic   = "ROOSTSNP"
	snapshotVersion = 1
	maxRecordSize   = 1 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type fsmSnapshot struct {
	view *View
}

// Persist writes the snapshot to the sink while Apply goes on.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.view.WriteSnapshot(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// WriteSnapshot streams the view in the snapshot format.
func (v *View) WriteSnapshot(w io.Writer) error {
	h := crc32.New(crcTable)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("raftfsm: write snapshot: %w", err)
	}
	hdr := &raftlogv1.SnapshotHeader{
		FormatVersion: snapshotVersion,
		Revision:      v.revision,
		AppliedIndex:  v.index,
		WrittenFormat: v.written,
		Entries:       uint64(v.tab.len()),
	}
	for _, id := range slices.Sorted(maps.Keys(v.members)) {
		m := v.members[id]
		hdr.Members = append(hdr.Members, &raftlogv1.Member{Id: id, GrpcAddress: m.GRPCAddr, LogFormat: m.LogFormat, Promote: m.Promote})
	}
	if _, err := protodelim.MarshalTo(bw, hdr); err != nil {
		return fmt.Errorf("raftfsm: write snapshot header: %w", err)
	}
	var rec raftlogv1.Entry // reused: one record at a time
	var err error
	v.tab.byKey.Ascend(func(e *entry) bool {
		rec.Name = append(rec.Name[:0], e.name...)
		rec.State = raftlogv1.EntryState(e.state())
		rec.Location = append(rec.Location[:0], e.loc()...)
		rec.Acl = append(rec.Acl[:0], e.aclString()...)
		rec.CreateRevision = e.created
		rec.ModifyRevision = e.modified()
		_, err = protodelim.MarshalTo(bw, &rec)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("raftfsm: write snapshot entry: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("raftfsm: write snapshot: %w", err)
	}
	if err := binary.Write(w, binary.BigEndian, h.Sum32()); err != nil {
		return fmt.Errorf("raftfsm: write snapshot checksum: %w", err)
	}
	return nil
}

// snapshotState is a decoded snapshot.
type snapshotState struct {
	tab      *table
	members  map[string]Member
	revision uint64
	index    uint64
	written  uint32
}

// ErrBadSnapshot: the snapshot is truncated, damaged or not a snapshot.
var ErrBadSnapshot = errors.New("raftfsm: bad snapshot")

// readSnapshot decodes a snapshot stream into a new table.
func readSnapshot(r io.Reader) (*snapshotState, error) {
	hr := &hashingReader{r: bufio.NewReaderSize(r, 256<<10), h: crc32.New(crcTable)}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(hr, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("%w: no snapshot header", ErrBadSnapshot)
	}
	opts := protodelim.UnmarshalOptions{MaxSize: maxRecordSize}
	var hdr raftlogv1.SnapshotHeader
	if err := opts.UnmarshalFrom(hr, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrBadSnapshot, err)
	}
	if hdr.FormatVersion != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrBadSnapshot, hdr.FormatVersion, snapshotVersion)
	}
	st := &snapshotState{tab: newTable(), members: map[string]Member{}, revision: hdr.Revision, index: hdr.AppliedIndex, written: hdr.WrittenFormat}
	for _, m := range hdr.Members {
		st.members[m.Id] = Member{ID: m.Id, GRPCAddr: m.GrpcAddress, LogFormat: m.LogFormat, Promote: m.Promote}
	}
	// The count is only the header's word until the records arrive:
	// preallocate modestly and let append grow.
	entries := make([]*entry, 0, min(hdr.Entries, 1<<16))
	var rec raftlogv1.Entry
	var in interner
	for i := uint64(0); i < hdr.Entries; i++ {
		if err := opts.UnmarshalFrom(hr, &rec); err != nil {
			return nil, fmt.Errorf("%w: entry %d of %d: %v", ErrBadSnapshot, i, hdr.Entries, err)
		}
		e, err := entryFromRecord(&rec, &in)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrBadSnapshot, i, err)
		}
		entries = append(entries, e)
	}
	want := hr.h.Sum32()
	var got uint32
	if err := binary.Read(hr.r, binary.BigEndian, &got); err != nil {
		return nil, fmt.Errorf("%w: missing checksum", ErrBadSnapshot)
	}
	if got != want {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
	}
	if err := st.tab.load(entries); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	return st, nil
}

func entryFromRecord(rec *raftlogv1.Entry, in *interner) (*entry, error) {
	var st State
	switch rec.State {
	case raftlogv1.EntryState_ENTRY_STATE_RESERVED:
		st = StateReserved
	case raftlogv1.EntryState_ENTRY_STATE_ACTIVE:
		st = StateActive
	default:
		return nil, fmt.Errorf("state %d", rec.State)
	}
	if rec.ModifyRevision > maxRevision || rec.CreateRevision > rec.ModifyRevision {
		return nil, fmt.Errorf("revisions %d/%d out of range", rec.CreateRevision, rec.ModifyRevision)
	}
	kind := OpActivate
	if st == StateReserved {
		kind = OpReserve
	}
	// The name is only looked at here and copied into the entry
	// (newEntry), so it needs no string of its own.
	name := unsafe.String(unsafe.SliceData(rec.Name), len(rec.Name))
	m := Mailbox{Name: name, State: st, Location: string(rec.Location), ACL: string(rec.Acl),
		CreateRevision: rec.CreateRevision, ModifyRevision: rec.ModifyRevision}
	if err := (Op{Kind: kind, Name: m.Name, Location: m.Location, ACL: m.ACL}).Validate(); err != nil {
		return nil, err
	}
	return in.entry(m), nil
}

// hashingReader checksums the bytes its user consumes (not what the
// buffer has read ahead), so the trailer stays out of the sum.
type hashingReader struct {
	r *bufio.Reader
	h hash.Hash32
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	return n, err
}

func (hr *hashingReader) ReadByte() (byte, error) {
	b, err := hr.r.ReadByte()
	if err == nil {
		hr.h.Write([]byte{b})
	}
	return b, err
}
