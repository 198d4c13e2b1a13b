package namespace

import (
	"errors"
	"strings"
)

// RecipientRules are the imapd.conf options that shape how lmtpd reads a
// recipient address, beyond the namespace.
type RecipientRules struct {
	// PostUser is postuser: the local part that addresses shared folders
	// ("bb" makes bb+shared.blah@ deliver to shared.blah). Empty, Cyrus's
	// default, means an address with an empty local part: +shared.blah@.
	PostUser string
	// KeepCase turns off lmtp_downcase_rcpt, which is on by default: the
	// local part before '+' and the domain are lower-cased.
	KeepCase bool
}

// Recipient is an LMTP recipient as Cyrus's lmtpd takes it apart
// (mbname_from_recipient, then process_recipient).
type Recipient struct {
	// UserID is the addressed user, "" for a shared folder.
	UserID string
	// Mailbox is the internal name lmtpd's verify_user checks at RCPT: the
	// user's INBOX (whatever the +detail), or the shared folder.
	Mailbox string
	// Detail is the internal name of a user's +detail mailbox, which the
	// backend delivers to when it exists and the sender may post there;
	// "" without a detail.
	Detail string
}

// ErrNoRecipient is an address that names no mailbox: an empty one, a
// postuser address without a folder, an empty local part when postuser
// is set, or a '!' (which would read as a domain) in the user's address.
var ErrNoRecipient = errors.New("namespace: the address names no mailbox")

// Recipient maps an LMTP recipient address (without angle brackets) to the
// mailbox it delivers to. As in Cyrus, the domain counts only under
// virtdomains and when it differs, byte for byte, from defaultdomain, and
// is lower-cased only after that comparison.
func (n *Namespace) Recipient(addr string, rules RecipientRules) (Recipient, error) {
	c := &n.cfg
	var m mbname
	local := addr
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local = addr[:i]
		if domain := addr[i+1:]; c.VirtDomains != VirtDomainsOff && domain != c.DefaultDomain {
			m.domain, m.hasDomain = domain, true
		}
	}
	if i := strings.IndexByte(local, '+'); i >= 0 {
		m.boxes = splitLevels(encodeUTF7(local[i+1:]), c.hierSep())
		local = local[:i]
	}
	if !rules.KeepCase {
		local, m.domain = asciiLower(local), asciiLower(m.domain)
	}
	if local == rules.PostUser {
		if c.VirtDomains == VirtDomainsOff || m.domain == c.DefaultDomain {
			m.domain, m.hasDomain = "", false
		}
		if len(m.boxes) == 0 {
			return Recipient{}, ErrNoRecipient
		}
		return Recipient{Mailbox: m.internal(c)}, nil
	}
	if local == "" || strings.ContainsRune(local, '!') || strings.ContainsRune(m.domain, '!') {
		return Recipient{}, ErrNoRecipient
	}
	m.local, m.isUser = local, true
	userid, _ := m.userid()
	r := Recipient{UserID: userid}
	if len(m.boxes) > 0 {
		r.Detail = m.internal(c)
	}
	m.boxes = nil
	r.Mailbox = m.internal(c)
	return r, nil
}

// asciiLower lower-cases ASCII letters only, as Cyrus's lcase does in the
// C locale.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
