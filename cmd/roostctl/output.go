package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
)

// mailboxJSON is a mailbox as scripts read it.
type mailboxJSON struct {
	Name           string `json:"name"`
	State          string `json:"state"`
	Location       string `json:"location"`
	ACL            string `json:"acl"`
	CreateRevision uint64 `json:"create_revision"`
	ModifyRevision uint64 `json:"modify_revision"`
}

func toJSON(m *roostv1.Mailbox) mailboxJSON {
	return mailboxJSON{Name: string(m.Name), State: stateName(m.State), Location: string(m.Location),
		ACL: string(m.Acl), CreateRevision: m.CreateRevision, ModifyRevision: m.ModifyRevision}
}

func stateName(s roostv1.MailboxState) string {
	return strings.TrimPrefix(s.String(), "MAILBOX_STATE_")
}

// printJSON writes one JSON value on one line.
func (c *cli) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", b)
	return err
}

// quoteACL shows an ACL with its TABs visible.
func quoteACL(acl []byte) string {
	if len(acl) == 0 {
		return "-"
	}
	return strconv.Quote(string(acl))
}

func (c *cli) printMailboxes(ms []*roostv1.Mailbox, rev uint64) error {
	if c.output == "json" {
		out := struct {
			Revision  uint64        `json:"revision"`
			Mailboxes []mailboxJSON `json:"mailboxes"`
		}{Revision: rev, Mailboxes: []mailboxJSON{}}
		for _, m := range ms {
			out.Mailboxes = append(out.Mailboxes, toJSON(m))
		}
		return c.printJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tLOCATION\tACL\tMODIFIED")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", m.Name, stateName(m.State), m.Location, quoteACL(m.Acl), m.ModifyRevision)
	}
	return tw.Flush()
}

func (c *cli) printMailbox(m *roostv1.Mailbox, rev uint64) error {
	if c.output == "json" {
		return c.printJSON(struct {
			Revision uint64      `json:"revision"`
			Mailbox  mailboxJSON `json:"mailbox"`
		}{rev, toJSON(m)})
	}
	_, err := fmt.Fprintf(c.stdout, "name:      %s\nstate:     %s\nlocation:  %s\nacl:       %s\ncreated:   %d\nmodified:  %d\n",
		m.Name, stateName(m.State), m.Location, quoteACL(m.Acl), m.CreateRevision, m.ModifyRevision)
	return err
}
