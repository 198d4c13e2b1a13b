package main

import (
	"context"
	"fmt"

	"github.com/roost-mail/roost/mupdatecompat"
	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/grpcserver"
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
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return err
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
	if refused > 0 {
		return fmt.Errorf("%d entries refused (see above)", refused)
	}
	return nil
}

func importOp(m raftfsm.Mailbox) *roostv1.Operation {
	op := raftfsm.Op{Kind: raftfsm.OpReserve, Name: m.Name, Location: m.Location}
	if m.State == raftfsm.StateActive {
		op.Kind, op.ACL = raftfsm.OpActivate, m.ACL
	}
	return grpcserver.OpToProto(op)
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
