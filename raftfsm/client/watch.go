package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// WatchOptions say where a Watch starts and how it behaves when a node
// goes away.
type WatchOptions struct {
	// AfterRevision: deliver the changes after this revision. Ignored
	// with Listing.
	AfterRevision uint64
	// Listing: start with a full listing, then the changes after it.
	Listing bool
	// Prefix: only names starting with these bytes.
	Prefix []byte
	// Consistent: confirm the first listing with the leader, so that it
	// holds every change committed before the call.
	Consistent bool
	// Relist: when no node's history reaches back to the revision to
	// resume after, start again from a listing (an Update with Reset)
	// instead of failing with ErrCompacted.
	Relist bool
	// ProgressInterval asks nodes for a message at least this often on a
	// quiet stream, so that the caller knows the cluster is there; zero
	// asks for none.
	ProgressInterval time.Duration
	// MaxRounds: give up once every endpoint failed this many times in a
	// row; zero retries until ctx ends.
	MaxRounds int
	// OnInterrupt, when set, is told each time a stream breaks and Watch
	// resumes elsewhere, with the error and the revision it resumes after.
	OnInterrupt func(err error, after uint64)
}

// Update is what one Watch message brings. A listing may take several
// Updates: the first has Reset (discard what an earlier listing or
// earlier changes built), the last ListingComplete; a listing cut short
// by a node going away starts over with another Reset. Events follow in
// revision order, never split within a revision.
type Update struct {
	Reset           bool
	Listing         []*roostv1.Mailbox
	ListingComplete bool
	Events          []*roostv1.Event
	// Revision: every change up to it has been delivered (once a listing
	// is complete); zero within a listing.
	Revision uint64
	// NodeRevision is the sending node's own revision: ahead of Revision
	// while a backlog is still being delivered.
	NodeRevision uint64
	// Endpoint is the node that sent it.
	Endpoint string
}

// Watch follows the cluster's changes and calls fn with each Update, in
// order, until ctx ends (it then returns ctx's error) or fn fails (it
// returns fn's error). When a node goes away or shuts down, it resumes on
// the next endpoint after the last revision it delivered, on a node that
// has caught up to it first, so nothing is delivered twice or missed and
// nothing goes back in time.
func (c *Client) Watch(ctx context.Context, opts WatchOptions, fn func(Update) error) error {
	req := &roostv1.WatchRequest{AfterRevision: opts.AfterRevision, IncludeListing: opts.Listing,
		Prefix: opts.Prefix, Consistent: opts.Consistent && opts.Listing}
	if opts.ProgressInterval > 0 {
		req.ProgressInterval = durationpb.New(opts.ProgressInterval)
	}
	k := c.start()
	failures, compacted := 0, 0
	backoff := 100 * time.Millisecond
	for ; ; k = (k + 1) % len(c.conns) {
		progressed, err := c.watchOnce(ctx, k, req, fn)
		if progressed {
			failures, compacted, backoff = 0, 0, 100*time.Millisecond
			c.prefer(k)
		}
		var fnErr fnError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &fnErr):
			return fnErr.err
		case status.Code(err) == codes.OutOfRange:
			// Another node's history may still reach back far enough.
			if compacted++; compacted < len(c.conns) {
				continue
			}
			if !opts.Relist {
				return fmt.Errorf("%w: %w", ErrCompacted, err)
			}
			compacted = 0
			req.IncludeListing, req.Consistent = true, false
			c.logger.Info("watch history compacted; listing again", "after_revision", req.AfterRevision)
			continue
		case status.Code(err) != codes.Unavailable && !errors.Is(err, io.EOF) && status.Code(err) != codes.DeadlineExceeded:
			return err
		}
		failures++
		if opts.MaxRounds > 0 && failures >= opts.MaxRounds*len(c.conns) {
			return err
		}
		if opts.OnInterrupt != nil {
			opts.OnInterrupt(err, req.AfterRevision)
		}
		c.logger.Warn("watch interrupted; resuming on another endpoint", "endpoint", c.endpoints[k],
			"after_revision", req.AfterRevision, "err", err)
		if failures%len(c.conns) == 0 {
			// Every endpoint failed in a row: wait before the next round.
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, 5*time.Second)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// fnError marks an error of the caller's fn, which ends Watch.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// watchOnce follows one node's stream, advancing req to resume from. It
// reports whether any message arrived.
func (c *Client) watchOnce(ctx context.Context, k int, req *roostv1.WatchRequest, fn func(Update) error) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := roostv1.NewMailboxServiceClient(c.conns[k]).Watch(ctx, req)
	if err != nil {
		return false, err
	}
	inListing := req.IncludeListing
	for progressed := false; ; progressed = true {
		msg, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		u := Update{Listing: msg.Listing, ListingComplete: msg.ListingComplete, Events: msg.Events,
			NodeRevision: msg.NodeRevision, Endpoint: c.endpoints[k]}
		if inListing && !progressed {
			u.Reset = true
		}
		if !inListing || msg.ListingComplete {
			u.Revision = msg.Revision
		}
		if err := fn(u); err != nil {
			return true, fnError{err}
		}
		if msg.ListingComplete {
			inListing = false
		}
		if !inListing && msg.Revision > 0 {
			// The node the stream resumes on first waits until it
			// holds what was delivered.
			req.AfterRevision, req.IncludeListing, req.Consistent = msg.Revision, false, false
			req.MinRevision = msg.Revision
		}
	}
}
