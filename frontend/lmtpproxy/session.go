package lmtpproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/emersion/go-smtp"
	"github.com/roost-mail/roost/frontend/acl"
	"github.com/roost-mail/roost/frontend/namespace"
)

// session is one client connection's state, driven by go-smtp one command
// at a time.
type session struct {
	s      *Server
	conn   *paramConn
	logger *slog.Logger

	from  string
	opts  smtp.MailOptions
	rcpts []rcpt // accepted, in the order given
}

// rcpt is one accepted recipient.
type rcpt struct {
	addr        string // as the client gave it, and as it is passed on
	server      string // the backend holding its mailbox
	ignoreQuota bool
}

var _ smtp.LMTPSession = (*session)(nil)

func (c *session) Reset() {
	c.from, c.opts, c.rcpts = "", smtp.MailOptions{}, nil
}

func (c *session) Logout() error {
	c.s.m.connClosed()
	return nil
}

func (c *session) Mail(from string, opts *smtp.MailOptions) error {
	if _, ok := wireAddr(from); !ok {
		return errBadAddress
	}
	c.from = from
	if opts != nil {
		c.opts = *opts
	}
	return nil
}

// Rcpt checks the recipient's mailbox as Cyrus's verify_user does on a
// frontend: a user's INBOX must exist (whatever the +detail), a shared
// folder must give the sender the p right.
func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ignoreQuota := c.conn.ignoreQuota(to)
	if _, ok := wireAddr(to); !ok {
		return errBadAddress
	}
	server, err := c.route(to)
	if err != nil {
		var reply *smtp.SMTPError
		if errors.As(err, &reply) {
			c.s.m.status(reply.Code)
		}
		c.logger.Debug("recipient refused", "rcpt", to, "err", err)
		return err
	}
	c.rcpts = append(c.rcpts, rcpt{addr: to, server: server, ignoreQuota: ignoreQuota})
	return nil
}

func (c *session) route(to string) (string, error) {
	s := c.s
	if err := s.fresh(); err != nil {
		return "", err
	}
	r, err := s.cfg.Namespace.Recipient(to, s.cfg.Recipients)
	if errors.Is(err, namespace.ErrNoRecipient) {
		return "", errUnknown
	}
	e, found, err := s.cfg.Locator.Find(context.Background(), r.Mailbox)
	if err != nil {
		c.logger.Warn("could not ask the cluster about a mailbox the cache lacks", "mailbox", r.Mailbox, "err", err)
		return "", s.tempfail(causeCluster, smtp.EnhancedCode{4, 4, 3},
			"Mailbox unknown here, and the cluster could not be asked; try again later")
	}
	if !found {
		return "", errUnknown
	}
	if e.Reserved {
		return "", s.tempfail(causeReserved, smtp.EnhancedCode{4, 2, 0}, "Mailbox is being created or moved; try again later")
	}
	if r.UserID == "" {
		sender := acl.User{}
		if a := c.opts.Auth; a != nil && *a != "<>" {
			sender.ID = *a
		}
		rights, _ := acl.Of(sender, e.ACL, false, 0)
		if !rights.Has("p") {
			if rights.Has("l") {
				return "", errDenied
			}
			return "", errUnknown
		}
	}
	return e.Server(), nil
}

// Data is never called: go-smtp calls LMTPData on LMTP connections.
func (c *session) Data(io.Reader) error {
	return errors.New("lmtpproxy: LMTP only")
}
