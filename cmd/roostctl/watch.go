package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/client"
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
	cl, err := c.api(c.endpoints, 0)
	if err != nil {
		return err
	}
	opts := client.WatchOptions{AfterRevision: *from, Prefix: []byte(*prefix), Listing: *listing,
		Consistent: consistent, MaxRounds: 10,
		OnInterrupt: func(err error, after uint64) {
			fmt.Fprintf(c.stderr, "roostctl: watch interrupted (%v); resuming after revision %d\n", describe(err), after)
		}}
	// A listing is printed only once complete: if the stream breaks in
	// the middle, it starts again from the start.
	var pending []*roostv1.Mailbox
	err = cl.Watch(ctx, opts, func(u client.Update) error {
		if u.Reset {
			pending = nil
		}
		pending = append(pending, u.Listing...)
		if u.ListingComplete {
			for _, m := range pending {
				if err := c.printEvent("listing", 0, m); err != nil {
					return err
				}
			}
			pending = nil
		}
		for _, ev := range u.Events {
			t := strings.ToLower(strings.TrimPrefix(ev.Type.String(), "EVENT_TYPE_"))
			if err := c.printEvent(t, ev.Revision, ev.Mailbox); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, client.ErrCompacted):
		return errors.New("the cluster's history no longer reaches back to the last revision printed; start again with --listing")
	}
	return describe(err)
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
