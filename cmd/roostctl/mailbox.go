package main

import (
	"context"
	"flag"
	"fmt"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
)

// readFlags are the flags of the commands that read: reads are
// linearizable unless --local is given, as etcdctl's are, so that a read
// through any node shows every write acknowledged before it (a
// follower's own copy may lag the leader by moments).
type readFlags struct {
	local, consistent *bool
}

func addReadFlags(fs *flag.FlagSet) readFlags {
	return readFlags{
		local:      fs.Bool("local", false, "read the node's own copy, without asking the leader: quicker, possibly stale"),
		consistent: fs.Bool("consistent", false, "confirm with the leader first (the default)"),
	}
}

// linearizable reports whether to confirm with the leader.
func (r readFlags) linearizable() (bool, error) {
	if *r.local && *r.consistent {
		return false, fmt.Errorf("%w: --local and --consistent contradict each other", errUsage)
	}
	return !*r.local, nil
}

func mailboxGet(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("mailbox get")
	rf := addReadFlags(fs)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	consistent, err := rf.linearizable()
	if err != nil {
		return err
	}
	return c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.GetMailbox(ctx, &roostv1.GetMailboxRequest{Name: []byte(pos[0]), Consistent: consistent})
		if err != nil {
			return err
		}
		return c.printMailbox(resp.Mailbox, resp.Revision)
	})
}

func mailboxList(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("mailbox list")
	prefix := fs.String("prefix", "", "only names starting with this")
	loc := fs.String("location-prefix", "", "only locations starting with this, e.g. be1!")
	bytesOrder := fs.Bool("byte-order", false, "byte order instead of Cyrus mailboxes.db order")
	rf := addReadFlags(fs)
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	consistent, err := rf.linearizable()
	if err != nil {
		return err
	}
	req := &roostv1.ListMailboxesRequest{Prefix: []byte(*prefix), LocationPrefix: []byte(*loc),
		Consistent: consistent, PageSize: 10000}
	if len(pos) == 1 {
		req.Pattern = []byte(pos[0])
	}
	if *bytesOrder {
		req.Order = roostv1.ListOrder_LIST_ORDER_BYTES
	}
	var all []*roostv1.Mailbox
	var rev uint64
	err = c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		all, req.PageToken = nil, nil
		for {
			resp, err := mc.ListMailboxes(ctx, req)
			if err != nil {
				return err
			}
			all, rev = append(all, resp.Mailboxes...), resp.Revision
			if len(resp.NextPageToken) == 0 {
				return nil
			}
			req.PageToken = resp.NextPageToken
		}
	})
	if err != nil {
		return err
	}
	return c.printMailboxes(all, rev)
}

func mailboxReserve(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("mailbox reserve"), args, 2, 2)
	if err != nil {
		return err
	}
	return c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.Reserve(ctx, &roostv1.ReserveRequest{Name: []byte(pos[0]), Location: []byte(pos[1])})
		if err != nil {
			return err
		}
		return c.printMailbox(resp.Mailbox, resp.Revision)
	})
}

func mailboxActivate(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("mailbox activate"), args, 2, 3)
	if err != nil {
		return err
	}
	req := &roostv1.ActivateRequest{Name: []byte(pos[0]), Location: []byte(pos[1])}
	if len(pos) == 3 {
		req.Acl = []byte(pos[2])
	}
	return c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.Activate(ctx, req)
		if err != nil {
			return err
		}
		return c.printMailbox(resp.Mailbox, resp.Revision)
	})
}

func mailboxDeactivate(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("mailbox deactivate"), args, 2, 2)
	if err != nil {
		return err
	}
	return c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.Deactivate(ctx, &roostv1.DeactivateRequest{Name: []byte(pos[0]), Location: []byte(pos[1])})
		if err != nil {
			return err
		}
		return c.printMailbox(resp.Mailbox, resp.Revision)
	})
}

func mailboxDelete(ctx context.Context, c *cli, args []string) error {
	pos, err := c.parse(c.flagSet("mailbox delete"), args, 1, 1)
	if err != nil {
		return err
	}
	return c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.Delete(ctx, &roostv1.DeleteRequest{Name: []byte(pos[0])})
		if err != nil {
			return err
		}
		if c.output == "json" {
			return c.printJSON(map[string]any{"revision": resp.Revision, "existed": resp.Existed})
		}
		if !resp.Existed {
			return c.println("deleted (it did not exist) at revision", resp.Revision)
		}
		return c.println("deleted at revision", resp.Revision)
	})
}
