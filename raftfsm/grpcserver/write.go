package grpcserver

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxWriteInflight bounds the requests one Write stream has in flight: a
// client that sends faster than the cluster commits waits for answers
// instead of growing the node's memory.
const maxWriteInflight = 1024

// Write implements roost.v1.MailboxService. A reader takes requests off
// the stream and applies each on a goroutine of its own, so that one
// stream's requests share log entries with each other and with everyone
// else's; answers go back as they come. The handler itself waits for the
// client to finish sending or for the node to close: then it stops
// reading, waits for the requests it has read to be answered, and ends
// the stream. A client that stops reading its answers leaves them blocked
// in Send, and gRPC allows no Send once the handler has returned, so the
// handler waits for them too; the node's shutdown bounds that wait (a
// graceful stop, then a hard one).
func (s *Server) Write(stream grpc.BidiStreamingServer[roostv1.WriteRequest, roostv1.WriteResponse]) error {
	w := &writeStream{s: s, stream: stream, slots: make(chan struct{}, maxWriteInflight), stop: make(chan struct{})}
	// On close the handler may return while the reader is still in
	// Recv; gRPC then ends the stream, and Recv returns.
	read := make(chan error, 1)
	go func() { read <- w.read() }()
	var err error
	select {
	case err = <-read:
	case <-s.closing:
		err = status.Error(codes.Unavailable, "node shutting down; write on another node")
	}
	w.halt()
	w.inflight.Wait()
	if err == nil {
		err = w.sendError()
	}
	return err
}

// writeStream is one Write call.
type writeStream struct {
	s      *Server
	stream grpc.BidiStreamingServer[roostv1.WriteRequest, roostv1.WriteResponse]
	slots  chan struct{} // one per request in flight
	stop   chan struct{} // closed by halt, under mu: nothing starts after

	mu       sync.Mutex     // orders starting requests against halt
	inflight sync.WaitGroup // requests read and not yet answered

	sendMu sync.Mutex            // one Send at a time
	failed atomic.Pointer[error] // the first failed Send's error
}

// read applies requests until the client stops sending, the stream
// breaks, or halt. It returns nil when the client closed its side.
func (w *writeStream) read() error {
	for {
		req, err := w.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case w.slots <- struct{}{}:
		case <-w.stop:
			return nil
		}
		if !w.start(req) {
			return w.stream.Context().Err()
		}
	}
}

// start applies req on a goroutine of its own unless the stream is
// halted. It reports whether it did.
func (w *writeStream) start(req *roostv1.WriteRequest) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	// Once the client is gone or an answer could not be sent, nobody
	// would hear of what a new request did.
	if w.halted() || w.stream.Context().Err() != nil || w.sendError() != nil {
		return false
	}
	w.inflight.Add(1)
	go func() {
		defer w.inflight.Done()
		defer func() { <-w.slots }()
		w.send(w.apply(req))
	}()
	return true
}

// halt stops requests from starting; those already started still end.
func (w *writeStream) halt() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.halted() {
		close(w.stop)
	}
}

func (w *writeStream) halted() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// apply carries out one request and builds its answer.
func (w *writeStream) apply(req *roostv1.WriteRequest) *roostv1.WriteResponse {
	out := &roostv1.WriteResponse{Id: req.Id}
	op, ok := opFromProto(req.Operation)
	if !ok {
		out.Error = &roostv1.WriteError{Code: uint32(codes.InvalidArgument), Message: "the operation is empty"}
		return out
	}
	resp, err := w.s.applyOps(w.stream.Context(), []raftfsm.Op{op}, false)
	if err != nil {
		st := status.Convert(err)
		out.Error = &roostv1.WriteError{Code: uint32(st.Code()), Message: st.Message()}
		return out
	}
	r := resp.Results[0]
	if req.OmitMailbox {
		r.Mailbox = nil
	}
	out.Result, out.Revision = resultToProto(r), resp.Revision
	return out
}

// send sends one answer; answers come from many goroutines, and gRPC
// allows one sender at a time. After a failed Send the stream is broken,
// so the rest are dropped.
func (w *writeStream) send(resp *roostv1.WriteResponse) {
	w.sendMu.Lock()
	defer w.sendMu.Unlock()
	if w.failed.Load() != nil {
		return
	}
	if err := w.stream.Send(resp); err != nil {
		w.failed.Store(&err)
	}
}

func (w *writeStream) sendError() error {
	if err := w.failed.Load(); err != nil {
		return *err
	}
	return nil
}
