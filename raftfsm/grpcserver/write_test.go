package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

type writeClient = grpc.BidiStreamingClient[roostv1.WriteRequest, roostv1.WriteResponse]

func openWrite(t *testing.T, n *testNode) writeClient {
	t.Helper()
	stream, err := n.mb.Write(testContext(t))
	if err != nil {
		t.Fatalf("Write() = %v, want nil error", err)
	}
	return stream
}

func sendWrite(t *testing.T, stream writeClient, req *roostv1.WriteRequest) {
	t.Helper()
	if err := stream.Send(req); err != nil {
		t.Fatalf("Write Send(id %d) = %v, want nil error", req.Id, err)
	}
}

// recvWrites receives n answers, failing on a repeated id.
func recvWrites(t *testing.T, stream writeClient, n int) map[uint64]*roostv1.WriteResponse {
	t.Helper()
	got := make(map[uint64]*roostv1.WriteResponse, n)
	for range n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Write Recv() after %d of %d answers = %v, want nil error", len(got), n, err)
		}
		if _, dup := got[resp.Id]; dup {
			t.Fatalf("Write answered id %d twice", resp.Id)
		}
		got[resp.Id] = resp
	}
	return got
}

// TestWriteStream sends many operations at once on one stream: each is
// answered once, with the outcome the unary call would give, and the
// stream ends cleanly once the client stops sending.
func TestWriteStream(t *testing.T) {
	n := startTestNode(t)
	mustActivate(t, n, "user.taken", "be1!p", "anyone\tlrs\t")
	stream := openWrite(t, n)

	const many = 200
	for i := range many {
		sendWrite(t, stream, &roostv1.WriteRequest{Id: uint64(1000 + i), OmitMailbox: i%2 == 1,
			Operation: activateOp(fmt.Sprintf("user.u%d", i), "be2!p", "u\tlrswipkxtecda\t")})
	}
	odd := []*roostv1.WriteRequest{
		{Id: 1, Operation: reserveOp("user.taken", "be9!p")},
		{Id: 2, Operation: deactivateOp("user.absent", "be1!p")},
		{Id: 3, Operation: deleteOp("user.absent")},
		{Id: 4, Operation: &roostv1.Operation{}},
		{Id: 5, Operation: reserveOp("user bad\x00name", "be1!p")},
		{Id: 6, Operation: reserveOp("user.new", "be3!p")},
	}
	for _, req := range odd {
		sendWrite(t, stream, req)
	}
	got := recvWrites(t, stream, many+len(odd))
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("Write CloseSend() = %v, want nil error", err)
	}
	if resp, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("Write Recv() after CloseSend = %v, %v; want io.EOF", resp, err)
	}

	revisions := map[uint64]bool{}
	for i := range many {
		revisions[got[uint64(1000+i)].GetRevision()] = true
	}
	if len(revisions) >= many {
		t.Errorf("%d activations sent at once went into %d log entries, want them to share entries", many, len(revisions))
	}
	for i := range many {
		name := fmt.Sprintf("user.u%d", i)
		resp := got[uint64(1000+i)]
		if resp == nil || resp.Error != nil || resp.Result.GetStatus() != roostv1.OperationStatus_OPERATION_STATUS_OK || resp.Revision == 0 {
			t.Fatalf("Write answer for activate %s = %v, want OK at a revision", name, resp)
		}
		if wantMailbox := i%2 == 0; (resp.Result.Mailbox != nil) != wantMailbox {
			t.Errorf("Write answer for %s (omit_mailbox %v) has mailbox %v", name, !wantMailbox, resp.Result.Mailbox)
		}
		if m := mustGet(t, n, name); string(m.Location) != "be2!p" || m.ModifyRevision != resp.Revision {
			t.Errorf("after Write, %s = %v, want it at be2!p, modified at revision %d", name, m, resp.Revision)
		}
	}
	wantStatus := map[uint64]roostv1.OperationStatus{
		1: roostv1.OperationStatus_OPERATION_STATUS_ALREADY_EXISTS,
		2: roostv1.OperationStatus_OPERATION_STATUS_NOT_FOUND,
		3: roostv1.OperationStatus_OPERATION_STATUS_OK,
		6: roostv1.OperationStatus_OPERATION_STATUS_OK,
	}
	for id, want := range wantStatus {
		if resp := got[id]; resp.GetResult().GetStatus() != want || resp.Error != nil {
			t.Errorf("Write answer for id %d = %v, want status %v", id, resp, want)
		}
	}
	for _, id := range []uint64{4, 5} {
		if resp := got[id]; resp.GetError().GetCode() != uint32(codes.InvalidArgument) || resp.Result != nil {
			t.Errorf("Write answer for malformed request %d = %v, want error INVALID_ARGUMENT", id, resp)
		}
	}
	wantAbsent(t, n, "user bad\x00name")
	if m := mustGet(t, n, "user.taken"); string(m.Location) != "be1!p" || m.State != roostv1.MailboxState_MAILBOX_STATE_ACTIVE {
		t.Errorf("after a refused RESERVE, user.taken = %v, want it unchanged", m)
	}
	if m := mustGet(t, n, "user.new"); m.State != roostv1.MailboxState_MAILBOX_STATE_RESERVED {
		t.Errorf("after RESERVE on the stream, user.new = %v, want RESERVED", m)
	}
}

// TestWriteEndsOnServerClose: a closing node answers every request it
// has started and ends the stream with UNAVAILABLE, so the client writes
// elsewhere. The client keeps sending throughout, so the close lands
// among requests in flight and requests never read: every answered one is
// in the database, and no unanswered one is.
func TestWriteEndsOnServerClose(t *testing.T) {
	n := startTestNode(t)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	stream, err := n.mb.Write(ctx)
	if err != nil {
		t.Fatalf("Write() = %v, want nil error", err)
	}
	var sent atomic.Uint64
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for i := uint64(0); ; i++ {
			if stream.Send(&roostv1.WriteRequest{Id: i, Operation: activateOp(fmt.Sprintf("user.c%d", i), "be1!p", "")}) != nil {
				return
			}
			sent.Store(i + 1)
		}
	}()
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("Write Recv() = %v, want an answer", err)
	}
	n.srv.Close()
	answered := map[uint64]bool{first.Id: true}
	for {
		resp, err := stream.Recv()
		if err != nil {
			wantCode(t, "Write Recv() after Server.Close", err, codes.Unavailable)
			break
		}
		if answered[resp.Id] {
			t.Fatalf("Write answered id %d twice", resp.Id)
		}
		if resp.Result.GetStatus() != roostv1.OperationStatus_OPERATION_STATUS_OK {
			t.Errorf("Write answer %v, want OK", resp)
		}
		answered[resp.Id] = true
	}
	cancel()
	<-sending
	if uint64(len(answered)) >= sent.Load() {
		t.Fatalf("all %d requests sent were answered: the close did not land among them", sent.Load())
	}
	for i := range sent.Load() {
		name := fmt.Sprintf("user.c%d", i)
		m, _ := n.store.FSM().Get(name)
		if got := m != nil; got != answered[i] {
			t.Errorf("%s: in the database %v, answered %v; want both or neither", name, got, answered[i])
		}
	}
}
