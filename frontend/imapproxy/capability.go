package imapproxy

import (
	"slices"
	"strings"
)

// carried is what the proxy adds to what it passes through: it answers
// ID, NAMESPACE and ENABLE's replay itself, and takes LITERAL+ from
// clients whatever the backend.
var carried = []string{"IMAP4rev1", "LITERAL+", "ID", "ENABLE", "NAMESPACE", "SASL-IR"}

// dropped are backend capabilities the proxy cannot carry: it
// authenticates clients itself, does its own TLS, and cannot compress,
// notify across backends or hand out URLs; and a backend's MUPDATE
// server is none of a client's business.
func dropped(c string) bool {
	return strings.HasPrefix(c, "AUTH=") || strings.HasPrefix(c, "COMPRESS=") || strings.HasPrefix(c, "MUPDATE=") || slices.Contains([]string{
		"STARTTLS", "LOGINDISABLED", "SASL-IR", "NOTIFY", "URLAUTH", "MAILBOX-REFERRALS", "LOGIN-REFERRALS",
		"X-NETSCAPE", "IDLE-AFTER-LOGIN"}, c) || strings.HasPrefix(c, "URLAUTH=")
}

// capabilities is the CAPABILITY list for the session's state: before
// login the proxy's own, after it the INBOX backend's less what cannot
// pass.
func (c *session) capabilities() string {
	caps := slices.Clone(carried)
	if c.authenticated() && c.inbox != nil {
		for _, bc := range c.inbox.caps {
			if !dropped(bc) && !slices.ContainsFunc(caps, func(have string) bool { return strings.EqualFold(have, bc) }) {
				caps = append(caps, bc)
			}
		}
		return strings.Join(caps, " ")
	}
	if c.s.cfg.TLS != nil && !c.tls {
		caps = append(caps, "STARTTLS")
	}
	if c.s.cfg.RequireTLS && !c.tls {
		caps = append(caps, "LOGINDISABLED")
	} else {
		caps = append(caps, "AUTH=PLAIN")
	}
	return strings.Join(caps, " ")
}
