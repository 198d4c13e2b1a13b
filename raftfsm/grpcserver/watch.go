package grpcserver

import (
	"context"
	"errors"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// listingChunk is how many entries one listing message carries.
	listingChunk = 1000
	// minProgress bounds how often a quiet stream sends progress
	// messages, whatever a watcher asks for.
	minProgress = 50 * time.Millisecond
)

// Watch implements roost.v1.MailboxService: an optional listing at a
// revision, then every change after it. The watcher is registered before
// the listing is sent, so no change falls between the two.
func (s *Server) Watch(req *roostv1.WatchRequest, stream grpc.ServerStreamingServer[roostv1.WatchResponse]) error {
	if err := s.readAt(stream.Context(), req.Consistent, req.MinRevision); err != nil {
		return err
	}
	fsm := s.store.FSM()
	prefix := string(req.Prefix)
	var w *raftfsm.Watcher
	if req.IncludeListing {
		v := fsm.View()
		w = fsm.WatchView(v, prefix)
		defer w.Close()
		if err := sendListing(v, prefix, stream); err != nil {
			return err
		}
	} else {
		var err error
		if w, err = fsm.Watch(req.AfterRevision, prefix); err != nil {
			return toStatus(err)
		}
		defer w.Close()
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	progress := req.ProgressInterval.AsDuration()
	for {
		evs, rev, err := next(ctx, w, progress)
		if err != nil {
			if ctx.Err() != nil && stream.Context().Err() == nil {
				return status.Error(codes.Unavailable, "node shutting down; resume on another node")
			}
			return toStatus(err)
		}
		msg := &roostv1.WatchResponse{Revision: rev, NodeRevision: fsm.Revision(), Events: make([]*roostv1.Event, len(evs))}
		for i, ev := range evs {
			msg.Events[i] = &roostv1.Event{Revision: ev.Revision, Type: roostv1.EventType(ev.Type),
				Mailbox: mailboxToProto(&ev.Mailbox)}
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// next waits for the watcher's next changes; with a progress interval,
// it returns no events and the watcher's revision once the interval
// passes without any, for the stream's progress message.
func next(ctx context.Context, w *raftfsm.Watcher, progress time.Duration) ([]raftfsm.Event, uint64, error) {
	if progress <= 0 {
		return w.Next(ctx)
	}
	tctx, cancel := context.WithTimeout(ctx, max(progress, minProgress))
	defer cancel()
	evs, rev, err := w.Next(tctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, rev, nil
	}
	return evs, rev, err
}

func sendListing(v *raftfsm.View, prefix string, stream grpc.ServerStreamingServer[roostv1.WatchResponse]) error {
	var err error
	msg := &roostv1.WatchResponse{}
	v.List(raftfsm.ListOptions{Prefix: prefix}, func(m raftfsm.Mailbox) bool {
		msg.Listing = append(msg.Listing, mailboxToProto(&m))
		if len(msg.Listing) == listingChunk {
			err = stream.Send(msg)
			msg = &roostv1.WatchResponse{}
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	msg.ListingComplete = true
	msg.Revision = v.Revision()
	return stream.Send(msg)
}
