package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/roost-mail/roost/mupdatecompat"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/client"
)

// importBatch is how many entries go to the cluster per Batch call.
const importBatch = 1000

// importMaster copies the database of a running MUPDATE master (Cyrus's,
// or another Roost) into the cluster: it reads the master's UPDATE dump
// and writes each entry as it is, ACTIVATE for active mailboxes and
// RESERVE for reservations. This is the migration path from a Cyrus
// murder's mupdate master.
func importMaster(ctx context.Context, c *cli, args []string) error {
	fs := c.flagSet("import")
	from := fs.String("from", "", "the master's MUPDATE address, HOST:PORT")
	user := fs.String("from-user", "", "MUPDATE user name on the master")
	pwFile := fs.String("from-password-file", "", "file holding that user's password")
	follow := fs.Bool("follow", false, "after the dump, go on copying every change the master streams, until interrupted")
	dryRun := fs.Bool("dry-run", false, "print what the import would change in the cluster, and change nothing")
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if *follow && *dryRun {
		return fmt.Errorf("%w: --follow and --dry-run exclude each other", errUsage)
	}
	if *from == "" || *user == "" || *pwFile == "" {
		return fmt.Errorf("import needs --from, --from-user and --from-password-file")
	}
	pw, err := readPassword(*pwFile)
	if err != nil {
		return err
	}
	mc, err := mupdatecompat.Dial(ctx, *from)
	if err != nil {
		return err
	}
	defer mc.Close()
	if err := mc.Authenticate(*user, pw); err != nil {
		return fmt.Errorf("authenticate to %s: %w", *from, err)
	}
	if *dryRun {
		return c.importDryRun(ctx, mc, *from)
	}
	var total, refused int
	var pending []*roostv1.Operation
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		n, err := c.importOps(ctx, pending)
		total, refused, pending = total+len(pending), refused+n, nil
		return err
	}
	err = mc.Dump(func(m raftfsm.Mailbox) error {
		pending = append(pending, importOp(m))
		if len(pending) == importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := c.println(fmt.Sprintf("imported %d of %d entries from %s", total-refused, total, *from)); err != nil {
		return err
	}
	if *follow {
		return c.importFollow(ctx, mc, *from)
	}
	if refused > 0 {
		return fmt.Errorf("%d entries refused (see above)", refused)
	}
	return nil
}

// importFollow copies each change the master streams after its dump, one
// at a time, as it comes, until ctx ends (SIGINT or SIGTERM): the cluster
// stays in step with the master while backends and frontends move over.
// A refused change is reported and the rest go on.
func (c *cli) importFollow(ctx context.Context, mc *mupdatecompat.Client, from string) error {
	if err := c.println("following " + from + "; interrupt to stop"); err != nil {
		return err
	}
	// Next blocks on the connection: closing it is how to stop.
	stop := context.AfterFunc(ctx, func() { mc.Close() })
	defer stop()
	var copied, refused int
	for {
		m, deleted, err := mc.Next()
		if err != nil {
			if ctx.Err() != nil {
				return c.println(fmt.Sprintf("stopped following: %d changes copied, %d refused", copied, refused))
			}
			return fmt.Errorf("following %s: %w", from, err)
		}
		op := importOp(m)
		if deleted {
			op = client.Delete([]byte(m.Name))
		}
		n, err := c.importOps(ctx, []*roostv1.Operation{op})
		if err != nil {
			if ctx.Err() != nil {
				continue // the next Next reports the stop
			}
			return err
		}
		copied, refused = copied+1-n, refused+n
	}
}

// importDryRun compares the master's dump with the cluster and prints
// what an import would write, changing nothing.
func (c *cli) importDryRun(ctx context.Context, mc *mupdatecompat.Client, from string) error {
	have := map[string]*roostv1.Mailbox{}
	token := []byte(nil)
	for {
		var resp *roostv1.ListMailboxesResponse
		err := c.mailboxes(ctx, func(ctx context.Context, cl roostv1.MailboxServiceClient) error {
			var err error
			resp, err = cl.ListMailboxes(ctx, &roostv1.ListMailboxesRequest{PageToken: token, PageSize: 10000, Consistent: true})
			return err
		})
		if err != nil {
			return err
		}
		for _, m := range resp.Mailboxes {
			have[string(m.Name)] = m
		}
		if len(resp.NextPageToken) == 0 {
			break
		}
		token = resp.NextPageToken
	}
	var add, change, same int
	err := mc.Dump(func(m raftfsm.Mailbox) error {
		cur, ok := have[m.Name]
		delete(have, m.Name)
		state := "reserve"
		if m.State == raftfsm.StateActive {
			state = "activate"
		}
		switch {
		case !ok:
			add++
			return c.println(fmt.Sprintf("would %s %s at %s", state, m.Name, m.Location))
		case string(cur.Location) == m.Location && string(cur.Acl) == m.ACL && (cur.State == roostv1.MailboxState_MAILBOX_STATE_ACTIVE) == (m.State == raftfsm.StateActive):
			same++
			return nil
		}
		change++
		return c.println(fmt.Sprintf("would %s %s at %s (now %s at %s)", state, m.Name, m.Location, strings.ToLower(strings.TrimPrefix(cur.State.String(), "MAILBOX_STATE_")), cur.Location))
	})
	if err != nil {
		return err
	}
	for name := range have {
		if err := c.println("left alone, not on the master: " + name); err != nil {
			return err
		}
	}
	return c.println(fmt.Sprintf("dry run against %s: %d to add, %d to change, %d already the same, %d only in the cluster; nothing written", from, add, change, same, len(have)))
}

func importOp(m raftfsm.Mailbox) *roostv1.Operation {
	if m.State == raftfsm.StateActive {
		return client.Activate([]byte(m.Name), []byte(m.Location), []byte(m.ACL))
	}
	return client.Reserve([]byte(m.Name), []byte(m.Location))
}

// importOps writes one batch and reports its refusals on stderr.
func (c *cli) importOps(ctx context.Context, ops []*roostv1.Operation) (int, error) {
	refused := 0
	err := c.mailboxes(ctx, func(ctx context.Context, mc roostv1.MailboxServiceClient) error {
		resp, err := mc.Batch(ctx, &roostv1.BatchRequest{Operations: ops, OmitMailboxes: true})
		if err != nil {
			return err
		}
		for i, r := range resp.Results {
			if r.Status != roostv1.OperationStatus_OPERATION_STATUS_OK {
				refused++
				fmt.Fprintf(c.stderr, "roostctl: %s refused: %s\n", nameOf(ops[i]), r.Message)
			}
		}
		return nil
	})
	return refused, err
}

// nameOf is the mailbox an operation is about.
func nameOf(o *roostv1.Operation) string {
	switch x := o.GetOp().(type) {
	case *roostv1.Operation_Activate:
		return string(x.Activate.Name)
	case *roostv1.Operation_Reserve:
		return string(x.Reserve.Name)
	}
	return "an entry"
}
