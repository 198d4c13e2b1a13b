package acl

import (
	"fmt"
	"strings"
)

// Rights is a set of RFC 4314 rights (lrswipkxtean) and Cyrus's extra
// letters: one bit per lower-case letter and digit.
type Rights uint64

// Parse returns the rights named by letters; characters outside a-z and
// 0-9 are ignored, as Cyrus ignores them. Cyrus's legacy c and d stand
// for k and x, and t and e, as RFC 4314 section 2.1.1 says.
func Parse(letters string) Rights {
	var r Rights
	for i := 0; i < len(letters); i++ {
		switch ch := letters[i]; {
		case ch == 'c':
			r |= bit('c') | bit('k') | bit('x')
		case ch == 'd':
			r |= bit('d') | bit('t') | bit('e')
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
			r |= bit(ch)
		}
	}
	return r
}

func bit(ch byte) Rights {
	if ch >= '0' && ch <= '9' {
		return 1 << (26 + ch - '0')
	}
	return 1 << (ch - 'a')
}

// Has reports whether r holds every right in letters.
func (r Rights) Has(letters string) bool {
	want := Parse(letters)
	return r&want == want
}

// String returns the rights' letters in alphabetical order, digits last.
func (r Rights) String() string {
	var b strings.Builder
	for ch := byte('a'); ch <= 'z'; ch++ {
		if r&bit(ch) != 0 {
			b.WriteByte(ch)
		}
	}
	for ch := byte('0'); ch <= '9'; ch++ {
		if r&bit(ch) != 0 {
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// DefaultOwnerRights are the rights a mailbox's owner always has: Cyrus
// 3.x's implicit_owner_rights default.
const DefaultOwnerRights = "lkxan"

// User is who rights are computed for.
type User struct {
	// ID is the user's Cyrus userid (jane, or jane@example.com under
	// virtdomains).
	ID string
	// Groups are the group identifiers the user belongs to, with their
	// group: prefix.
	Groups []string
	// Admin: a Cyrus admin, who has every right everywhere.
	Admin bool
}

// matches reports whether the ACL identifier id names the user: Cyrus's
// auth_memberof. "anyone" names everybody; "anonymous" only the
// anonymous user.
func (u User) matches(id string) bool {
	switch {
	case id == "anyone":
		return true
	case id == u.ID:
		return true
	case strings.HasPrefix(id, "group:"):
		for _, g := range u.Groups {
			if g == id {
				return true
			}
		}
	}
	return false
}

// Of returns u's rights from acl (identifier TAB rights TAB pairs),
// adding ownerRights when u owns the mailbox. A malformed ACL yields what
// its well-formed pairs give, and an error.
func Of(u User, acl string, owner bool, ownerRights Rights) (Rights, error) {
	if u.Admin {
		return ^Rights(0), nil
	}
	var pos, neg Rights
	fields := strings.Split(acl, "\t")
	if n := len(fields); n > 0 && fields[n-1] == "" {
		fields = fields[:n-1]
	}
	var err error
	if len(fields)%2 != 0 {
		err = fmt.Errorf("acl: %d fields, not identifier and rights pairs", len(fields))
		fields = fields[:len(fields)-1]
	}
	for i := 0; i < len(fields); i += 2 {
		id, rights := fields[i], Parse(fields[i+1])
		if negated, ok := strings.CutPrefix(id, "-"); ok {
			if u.matches(negated) {
				neg |= rights
			}
		} else if u.matches(id) {
			pos |= rights
		}
	}
	if owner {
		pos |= ownerRights
	}
	return pos &^ neg, err
}
