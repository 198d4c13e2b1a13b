package client

import (
	"context"
	"fmt"
	"sync"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Writer sends single operations over one Write stream, many in flight
// at once: each Write waits for its own answer. When the stream breaks,
// the Writes waiting on it fail (an operation already sent has an unknown
// outcome: codes.Unknown; one refused before the database saw it,
// codes.Unavailable) and the next Write opens a new stream, on the next
// endpoint if need be. It is safe for concurrent use.
type Writer struct {
	c *Client

	mu      sync.Mutex
	stream  *writeStream // protected by mu; nil until the next Write
	nextID  uint64       // protected by mu
	closed  bool         // protected by mu
	omitBox bool         // immutable
}

// writeStream is one open Write stream and the Writes waiting on it.
type writeStream struct {
	cancel context.CancelFunc
	send   grpc.BidiStreamingClient[roostv1.WriteRequest, roostv1.WriteResponse]

	mu      sync.Mutex
	pending map[uint64]chan *roostv1.WriteResponse // protected by mu; nil once broken
	err     error                                  // protected by mu: why it broke
	sendMu  sync.Mutex                             // serialises Send
}

// NewWriter returns a Writer. With omitMailbox, answers carry the status
// and revision only, not the mailbox written, which saves the node work.
func (c *Client) NewWriter(omitMailbox bool) *Writer {
	return &Writer{c: c, omitBox: omitMailbox}
}

// Write sends op and returns its result and revision once committed. A
// database refusal is a result with its status, not an error.
func (w *Writer) Write(ctx context.Context, op *roostv1.Operation) (*roostv1.OperationResult, uint64, error) {
	ws, id, ch, err := w.register(ctx)
	if err != nil {
		return nil, 0, err
	}
	ws.sendMu.Lock()
	err = ws.send.Send(&roostv1.WriteRequest{Id: id, Operation: op, OmitMailbox: w.omitBox})
	ws.sendMu.Unlock()
	if err != nil {
		w.broken(ws, err)
		return nil, 0, status.Errorf(codes.Unavailable, "client: write stream: %v", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, 0, ws.failure()
		}
		if e := resp.Error; e != nil {
			return nil, 0, status.Error(codes.Code(e.Code), e.Message)
		}
		return resp.Result, resp.Revision, nil
	case <-ctx.Done():
		ws.forget(id)
		return nil, 0, status.FromContextError(ctx.Err()).Err()
	}
}

// register returns the open stream (opening one if need be) with a new
// id and the channel its answer arrives on.
func (w *Writer) register(ctx context.Context) (*writeStream, uint64, chan *roostv1.WriteResponse, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, 0, nil, ErrWriterClosed
	}
	if w.stream == nil {
		ws, err := w.open(ctx)
		if err != nil {
			return nil, 0, nil, err
		}
		w.stream = ws
	}
	w.nextID++
	ch := make(chan *roostv1.WriteResponse, 1)
	ws := w.stream
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.pending == nil {
		w.stream = nil
		return nil, 0, nil, ws.err
	}
	ws.pending[w.nextID] = ch
	return ws, w.nextID, ch, nil
}

// open opens a stream on the first endpoint that takes one. The stream
// lives on after ctx, until the Writer closes or it breaks.
func (w *Writer) open(ctx context.Context) (*writeStream, error) {
	var ws *writeStream
	err := w.c.Do(ctx, func(_ context.Context, cc *grpc.ClientConn) error {
		sctx, cancel := context.WithCancel(context.Background())
		stream, err := roostv1.NewMailboxServiceClient(cc).Write(sctx)
		if err != nil {
			cancel()
			return err
		}
		ws = &writeStream{cancel: cancel, send: stream, pending: map[uint64]chan *roostv1.WriteResponse{}}
		return nil
	})
	if err != nil {
		return nil, err
	}
	go w.receive(ws)
	return ws, nil
}

// receive hands each answer to its Write until the stream ends.
func (w *Writer) receive(ws *writeStream) {
	for {
		resp, err := ws.send.Recv()
		if err != nil {
			w.broken(ws, err)
			return
		}
		ws.mu.Lock()
		ch := ws.pending[resp.Id]
		delete(ws.pending, resp.Id)
		ws.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
}

// broken fails every Write waiting on ws and makes the next Write open a
// new stream.
func (w *Writer) broken(ws *writeStream, err error) {
	ws.mu.Lock()
	if ws.pending != nil {
		ws.err = status.Errorf(codes.Unknown, "client: write stream broke with the operation in flight: %v", err)
		for _, ch := range ws.pending {
			close(ch)
		}
		ws.pending = nil
	}
	ws.mu.Unlock()
	ws.cancel()
	w.mu.Lock()
	if w.stream == ws {
		w.stream = nil
	}
	w.mu.Unlock()
}

func (ws *writeStream) failure() error {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.err
}

func (ws *writeStream) forget(id uint64) {
	ws.mu.Lock()
	delete(ws.pending, id)
	ws.mu.Unlock()
}

// Close ends the stream; Writes waiting on it fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	w.closed = true
	ws := w.stream
	w.mu.Unlock()
	if ws != nil {
		ws.sendMu.Lock()
		ws.send.CloseSend()
		ws.sendMu.Unlock()
		w.broken(ws, fmt.Errorf("writer closed"))
	}
	return nil
}
