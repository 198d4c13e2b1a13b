package raftfsm

import (
	"fmt"
	"slices"
	"time"

	raftlogv1 "github.com/roost-mail/roost/proto/roost/raftlog/v1"
	"google.golang.org/protobuf/proto"
)

// Log entry data is one format byte followed by the encoded command, so a
// future encoding can be told apart from this one without guessing.
const formatProtoV1 byte = 1

// command is a decoded log entry: mailbox operations, or a change to the
// member directory.
type command struct {
	ops       []Op
	atomic    bool
	format    uint32 // the log format that introduced this entry's form
	setMember *Member
	rmMember  string
}

// Log entry formats, as members declare which they read (Member.LogFormat).
const (
	// LogFormatOps adds Ops, column-wise batches (builds that predate
	// the field declare nothing, which reads as 0).
	LogFormatOps uint32 = 2
	// LogFormatOnlyOn adds ConfinedOps, Ops some of whose operations are
	// confined to servers (Op.OnlyOn).
	LogFormatOnlyOn uint32 = 3
	// LogFormat is the newest format this build reads.
	LogFormat = LogFormatOnlyOn
)

// encodeOps encodes mailbox operations as one log entry in format, the
// newest every member reads. One operation is sent bare; several become a
// batch that shares one revision: Ops if every member reads it, else
// Batch. Operations confined to servers go as ConfinedOps, alone or not,
// and cannot go below LogFormatOnlyOn (ErrCannotConfine).
func encodeOps(ops []Op, atomic bool, format uint32) ([]byte, error) {
	confined := slices.ContainsFunc(ops, Op.Confined)
	if confined && format < LogFormatOnlyOn {
		return nil, ErrCannotConfine
	}
	if len(ops) == 1 && !atomic && !confined {
		return marshal(opToProto(ops[0]))
	}
	if format < LogFormatOps {
		b := &raftlogv1.Batch{Atomic: atomic, Commands: make([]*raftlogv1.Command, len(ops))}
		for i, op := range ops {
			b.Commands[i] = opToProto(op)
		}
		return marshal(&raftlogv1.Command{Op: &raftlogv1.Command_Batch{Batch: b}})
	}
	b := &raftlogv1.Ops{
		Atomic:          atomic,
		Kinds:           make([]raftlogv1.OpKind, len(ops)),
		NameLengths:     make([]uint32, len(ops)),
		LocationLengths: make([]uint32, len(ops)),
		AclLengths:      make([]uint32, len(ops)),
	}
	var names, locs, acls int
	for _, op := range ops {
		names, locs, acls = names+len(op.Name), locs+len(op.Location), acls+len(op.ACL)
	}
	b.Names, b.Locations, b.Acls = make([]byte, 0, names), make([]byte, 0, locs), make([]byte, 0, acls)
	for i, op := range ops {
		b.Kinds[i] = raftlogv1.OpKind(op.Kind)
		b.Names, b.NameLengths[i] = append(b.Names, op.Name...), uint32(len(op.Name))
		b.Locations, b.LocationLengths[i] = append(b.Locations, op.Location...), uint32(len(op.Location))
		b.Acls, b.AclLengths[i] = append(b.Acls, op.ACL...), uint32(len(op.ACL))
	}
	if !confined {
		return marshal(&raftlogv1.Command{Op: &raftlogv1.Command_Ops{Ops: b}})
	}
	b.OnlyOnCounts = make([]uint32, len(ops))
	for i, op := range ops {
		b.OnlyOnCounts[i] = uint32(len(op.OnlyOn))
		for _, srv := range op.OnlyOn {
			b.OnlyOn, b.OnlyOnLengths = append(b.OnlyOn, srv...), append(b.OnlyOnLengths, uint32(len(srv)))
		}
	}
	return marshal(&raftlogv1.Command{Op: &raftlogv1.Command_ConfinedOps{ConfinedOps: b}})
}

func encodeSetMember(m Member) ([]byte, error) {
	return marshal(&raftlogv1.Command{Op: &raftlogv1.Command_SetMember{SetMember: &raftlogv1.SetMember{
		Member: &raftlogv1.Member{Id: m.ID, GrpcAddress: m.GRPCAddr, LogFormat: m.LogFormat, Promote: m.Promote},
	}}})
}

func encodeRemoveMember(id string) ([]byte, error) {
	return marshal(&raftlogv1.Command{Op: &raftlogv1.Command_RemoveMember{
		RemoveMember: &raftlogv1.RemoveMember{Id: id},
	}})
}

func marshal(cmd *raftlogv1.Command) ([]byte, error) {
	// Apply never reads a clock; the proposer's time rides in the entry.
	cmd.ProposedUnixNano = time.Now().UnixNano()
	b, err := proto.MarshalOptions{}.MarshalAppend([]byte{formatProtoV1}, cmd)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: encode command: %w", err)
	}
	return b, nil
}

func opToProto(op Op) *raftlogv1.Command {
	n, l := []byte(op.Name), []byte(op.Location)
	switch op.Kind {
	case OpReserve:
		return &raftlogv1.Command{Op: &raftlogv1.Command_Reserve{Reserve: &raftlogv1.Reserve{Name: n, Location: l}}}
	case OpActivate:
		return &raftlogv1.Command{Op: &raftlogv1.Command_Activate{Activate: &raftlogv1.Activate{Name: n, Location: l, Acl: []byte(op.ACL)}}}
	case OpDeactivate:
		return &raftlogv1.Command{Op: &raftlogv1.Command_Deactivate{Deactivate: &raftlogv1.Deactivate{Name: n, Location: l}}}
	case OpDelete:
		return &raftlogv1.Command{Op: &raftlogv1.Command_Delete{Delete: &raftlogv1.Delete{Name: n}}}
	}
	panic(fmt.Sprintf("raftfsm: encode unknown op %v", op.Kind))
}

// decodeCommand decodes a log entry. An entry that does not decode means
// the log is corrupt or was written by a newer version: the caller panics
// rather than let this node's state diverge.
func decodeCommand(data []byte) (command, error) {
	if len(data) == 0 || data[0] != formatProtoV1 {
		return command{}, fmt.Errorf("raftfsm: unknown log entry format")
	}
	var pc raftlogv1.Command
	if err := proto.Unmarshal(data[1:], &pc); err != nil {
		return command{}, fmt.Errorf("raftfsm: decode command: %w", err)
	}
	switch x := pc.Op.(type) {
	case *raftlogv1.Command_Ops:
		ops, err := opsFromProto(x.Ops, false)
		if err != nil {
			return command{}, err
		}
		return command{ops: ops, atomic: x.Ops.Atomic, format: LogFormatOps}, nil
	case *raftlogv1.Command_ConfinedOps:
		ops, err := opsFromProto(x.ConfinedOps, true)
		if err != nil {
			return command{}, err
		}
		return command{ops: ops, atomic: x.ConfinedOps.Atomic, format: LogFormatOnlyOn}, nil
	case *raftlogv1.Command_Batch:
		ops := make([]Op, len(x.Batch.Commands))
		for i, c := range x.Batch.Commands {
			op, ok := opFromProto(c)
			if !ok {
				return command{}, fmt.Errorf("raftfsm: batch command %d is not a mailbox operation", i)
			}
			ops[i] = op
		}
		return command{ops: ops, atomic: x.Batch.Atomic}, nil
	case *raftlogv1.Command_SetMember:
		m := x.SetMember.GetMember()
		return command{setMember: &Member{ID: m.GetId(), GRPCAddr: m.GetGrpcAddress(), LogFormat: m.GetLogFormat(), Promote: m.GetPromote()}}, nil
	case *raftlogv1.Command_RemoveMember:
		return command{rmMember: x.RemoveMember.GetId()}, nil
	}
	op, ok := opFromProto(&pc)
	if !ok {
		return command{}, fmt.Errorf("raftfsm: unknown command %T", pc.Op)
	}
	return command{ops: []Op{op}}, nil
}

func opFromProto(c *raftlogv1.Command) (Op, bool) {
	switch x := c.Op.(type) {
	case *raftlogv1.Command_Reserve:
		return Op{Kind: OpReserve, Name: string(x.Reserve.Name), Location: string(x.Reserve.Location)}, true
	case *raftlogv1.Command_Activate:
		a := x.Activate
		return Op{Kind: OpActivate, Name: string(a.Name), Location: string(a.Location), ACL: string(a.Acl)}, true
	case *raftlogv1.Command_Deactivate:
		return Op{Kind: OpDeactivate, Name: string(x.Deactivate.Name), Location: string(x.Deactivate.Location)}, true
	case *raftlogv1.Command_Delete:
		return Op{Kind: OpDelete, Name: string(x.Delete.Name)}, true
	}
	return Op{}, false
}

// opsFromProto cuts an Ops batch into operations: each field is cut from
// one string per column, since the table copies names into its entries
// and interns locations and ACLs. Only a confined batch (ConfinedOps) may
// carry servers.
func opsFromProto(b *raftlogv1.Ops, confined bool) ([]Op, error) {
	n := len(b.Kinds)
	if len(b.NameLengths) != n || len(b.LocationLengths) != n || len(b.AclLengths) != n {
		return nil, fmt.Errorf("raftfsm: ops batch of %d kinds has %d names, %d locations, %d ACLs",
			n, len(b.NameLengths), len(b.LocationLengths), len(b.AclLengths))
	}
	names, locs, acls := newColumn(b.Names), newColumn(b.Locations), newColumn(b.Acls)
	ops := make([]Op, n)
	for i, k := range b.Kinds {
		if k < raftlogv1.OpKind_OP_KIND_RESERVE || k > raftlogv1.OpKind_OP_KIND_DELETE {
			return nil, fmt.Errorf("raftfsm: ops batch operation %d has unknown kind %d", i, k)
		}
		name, ok1 := names.next(b.NameLengths[i])
		loc, ok2 := locs.next(b.LocationLengths[i])
		acl, ok3 := acls.next(b.AclLengths[i])
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("raftfsm: ops batch operation %d runs past its column", i)
		}
		ops[i] = Op{Kind: OpKind(k), Name: name, Location: loc, ACL: acl}
	}
	if !names.done() || !locs.done() || !acls.done() {
		return nil, fmt.Errorf("raftfsm: ops batch columns longer than their operations")
	}
	if !confined {
		if len(b.OnlyOnCounts) != 0 || len(b.OnlyOnLengths) != 0 || len(b.OnlyOn) != 0 {
			return nil, fmt.Errorf("raftfsm: ops batch carries servers outside confined ops")
		}
		return ops, nil
	}
	if err := onlyOnFromProto(b, ops); err != nil {
		return nil, err
	}
	return ops, nil
}

// onlyOnFromProto sets the servers each operation of an Ops batch is
// confined to.
func onlyOnFromProto(b *raftlogv1.Ops, ops []Op) error {
	if len(b.OnlyOnCounts) != len(ops) {
		return fmt.Errorf("raftfsm: ops batch of %d operations has %d server counts", len(ops), len(b.OnlyOnCounts))
	}
	servers, lengths := newColumn(b.OnlyOn), b.OnlyOnLengths
	for i, n := range b.OnlyOnCounts {
		if n == 0 {
			continue
		}
		if uint64(n) > uint64(len(lengths)) {
			return fmt.Errorf("raftfsm: ops batch operation %d has more servers than the batch", i)
		}
		ops[i].OnlyOn = make([]string, n)
		for k := range ops[i].OnlyOn {
			srv, ok := servers.next(lengths[k])
			if !ok {
				return fmt.Errorf("raftfsm: ops batch operation %d runs past its servers", i)
			}
			ops[i].OnlyOn[k] = srv
		}
		lengths = lengths[n:]
	}
	if len(lengths) != 0 || !servers.done() {
		return fmt.Errorf("raftfsm: ops batch servers longer than their operations")
	}
	return nil
}

// column hands out consecutive pieces of one Ops column, all sharing one
// string.
type column struct {
	s   string
	off int
}

func newColumn(data []byte) column { return column{s: string(data)} }

// next returns the next piece, of length n.
func (c *column) next(n uint32) (string, bool) {
	if uint64(n) > uint64(len(c.s)-c.off) {
		return "", false
	}
	start := c.off
	c.off += int(n)
	return c.s[start:c.off], true
}

func (c *column) done() bool { return c.off == len(c.s) }
