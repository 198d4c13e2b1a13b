package namespace

import (
	"fmt"
	"time"
)

// Namespace is a validated [Config] ready to map names. It is immutable and
// safe for concurrent use; each session takes its own [View] of it.
type Namespace struct {
	cfg Config // immutable, string options filled with their defaults
}

// New returns the namespace for cfg; a nil cfg means [DefaultConfig]. It
// fails with [ErrBadPrefix] or [ErrBadVirtDomains] where Cyrus would refuse
// to set the namespace up.
func New(cfg *Config) (*Namespace, error) {
	c := DefaultConfig()
	if cfg != nil {
		c = cfg.withDefaults()
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("new namespace: %w", err)
	}
	return &Namespace{cfg: c}, nil
}

// Config returns the settings in use, with empty string options replaced by
// their defaults, so that callers can print what the proxy assumed.
func (n *Namespace) Config() Config {
	return n.cfg
}

// HierSep is the hierarchy separator clients see ('/' or '.'), for LIST
// and NAMESPACE replies.
func (n *Namespace) HierSep() byte {
	return n.cfg.hierSep()
}

// InboxName returns the internal name of userid's INBOX, the key the proxy
// looks up to route a login or a user's subscriptions, as
// mboxname_user_mbox(userid, NULL) builds it. It returns "" for an empty
// userid. The userid must be canonical, as Cyrus's canonify_userid leaves
// it: "jane@example.com" under virtdomains, without "@" for defaultdomain.
func (n *Namespace) InboxName(userid string) string {
	m := parseUserID(userid, n.cfg.DefaultDomain)
	if !m.isUser {
		return ""
	}
	return m.internal(&n.cfg)
}

// Parent returns the internal name of the nearest possible ancestor of a
// mailbox, where Cyrus's CREATE (mboxlist_findparent) looks next for the
// mailbox whose server and partition a new mailbox inherits. As there, the
// bare "INBOX" level is skipped, because user.jane.INBOX.x belongs under
// user.jane. A user's INBOX and a top-level shared folder have no parent;
// callers walk up by calling Parent again until ok is false.
func (n *Namespace) Parent(internal string) (parent string, ok bool) {
	m := parseInternal(internal, &n.cfg)
	if len(m.boxes) == 0 {
		return "", false
	}
	m.boxes = m.boxes[:len(m.boxes)-1]
	if len(m.boxes) == 1 && m.boxes[0] == "INBOX" {
		m.boxes = nil
	}
	if !m.isUser && len(m.boxes) == 0 {
		return "", false
	}
	return m.internal(&n.cfg), true
}

// Owner returns the userid owning an internal name, deleted mailboxes
// included, as mboxname_to_userid does; ok is false for shared folders.
// The proxy uses it to route a user's mailboxes with the user's INBOX.
func (n *Namespace) Owner(internal string) (userid string, ok bool) {
	m := parseInternal(internal, &n.cfg)
	return m.userid()
}

// IsUserMailbox reports whether an internal name is a live (not deleted)
// mailbox of some user, as mboxname_isusermailbox(name, 0).
func (n *Namespace) IsUserMailbox(internal string) bool {
	m := parseInternal(internal, &n.cfg)
	return m.isUser && m.deleted == 0
}

// IsInbox reports whether an internal name is a user's INBOX, as
// mboxname_isusermailbox(name, 1).
func (n *Namespace) IsInbox(internal string) bool {
	m := parseInternal(internal, &n.cfg)
	return m.isUser && m.deleted == 0 && len(m.boxes) == 0
}

// IsDeleted reports whether an internal name is a mailbox kept by
// delete_mode: delayed, and when it was deleted, following
// mboxname_isdeletedmailbox: after any "domain!", the first of more than two
// levels is deletedprefix and the last reads as non-zero hex. Frontends hide
// such names from non-admins' LIST (see [View.Listed]).
func (n *Namespace) IsDeleted(internal string) (when time.Time, ok bool) {
	m := parseInternal(internal, &n.cfg)
	if m.deleted == 0 {
		return time.Time{}, false
	}
	return time.Unix(m.deleted, 0).UTC(), true
}
