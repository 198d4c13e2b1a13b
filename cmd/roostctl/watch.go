package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// mailboxWatch prints every change, one per line. When a node goes away
// it resumes on the next endpoint after the last revision printed, so no
// change is lost or printed twice.
func mailboxWatch(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("mailbox watch")
	from := fs.Uint64("from", 0, "print changes after this revision")
	prefix := fs.String("prefix", "", "only names starting with this")
	listing := fs.Bool("listing", false, "print the full listing first, then changes after it")
	rf := addReadFlags(fs)
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	consistent, err := rf.linearizable()
	if err != nil {
		return err
	}
	req := &roostv1.WatchRequest{AfterRevision: *from, Prefix: []byte(*prefix), IncludeListing: *listing,
		Consistent: consistent && *listing}
	endpoints := strings.Split(c.endpoints, ",")
	failures, compacted := 0, 0
	backoff := 100 * time.Millisecond
	for i := 0; ; i = (i + 1) % len(endpoints) {
		progressed, err := c.watchOnce(ctx, strings.TrimSpace(endpoints[i]), req)
		if progressed {
			failures, compacted, backoff = 0, 0, 100*time.Millisecond
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case status.Code(err) == codes.OutOfRange:
			// Another node's history may still reach back far enough.
			if compacted++; compacted < len(endpoints) {
				continue
			}
			return fmt.Errorf("%w; start again with --listing", describe(err))
		case status.Code(err) != codes.Unavailable && !errors.Is(err, io.EOF):
			return describe(err)
		}
		if failures++; failures > 10*len(endpoints) {
			return describe(err)
		}
		fmt.Fprintf(c.stderr, "roostctl: watch interrupted (%v); resuming after revision %d\n", describe(err), req.AfterRevision)
		if failures >= len(endpoints) {
			// Every endpoint failed in a row: wait before the next round.
			select {
			case <-time.After(backoff):
				backoff = min(2*backoff, 5*time.Second)
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// watchOnce follows one node's stream, advancing req to resume from. It
// reports whether any message arrived.
func (c *cli) watchOnce(ctx context.Context, addr string, req *roostv1.WatchRequest) (bool, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return false, err
	}
	stream, err := roostv1.NewMailboxServiceClient(cc).Watch(ctx, req)
	if err != nil {
		return false, err
	}
	// A listing is printed only once complete: if the stream breaks in
	// the middle, the next node sends it again from the start.
	var listing []*roostv1.Mailbox
	for progressed := false; ; progressed = true {
		msg, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		listing = append(listing, msg.Listing...)
		if msg.ListingComplete {
			for _, m := range listing {
				if err := c.printEvent("listing", 0, m); err != nil {
					return true, err
				}
			}
			listing = nil
		}
		for _, ev := range msg.Events {
			t := strings.ToLower(strings.TrimPrefix(ev.Type.String(), "EVENT_TYPE_"))
			if err := c.printEvent(t, ev.Revision, ev.Mailbox); err != nil {
				return true, err
			}
		}
		if msg.ListingComplete || len(msg.Events) > 0 || msg.Revision > req.AfterRevision {
			// The node the stream resumes on first waits until it
			// holds what was printed: the watch never goes back in
			// time, like every other read.
			req.AfterRevision, req.IncludeListing, req.Consistent = msg.Revision, false, false
			req.MinRevision = msg.Revision
		}
	}
}

func (c *cli) printEvent(typ string, rev uint64, m *roostv1.Mailbox) error {
	if c.output == "json" {
		return c.printJSON(struct {
			Type     string      `json:"type"`
			Revision uint64      `json:"revision,omitempty"`
			Mailbox  mailboxJSON `json:"mailbox"`
		}{typ, rev, toJSON(m)})
	}
	if typ == "delete" {
		return c.println(rev, "DELETE", string(m.Name))
	}
	return c.println(rev, strings.ToUpper(typ), string(m.Name), stateName(m.State), string(m.Location), quoteACL(m.Acl))
}

func (c *cli) println(args ...any) error {
	_, err := fmt.Fprintln(c.stdout, args...)
	return err
}
