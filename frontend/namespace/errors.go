package namespace

import "errors"

// Errors returned by [New], [Config.Validate] and [View.ToInternal]. The
// proxy turns the name errors into a tagged NO, as Cyrus does when
// mboxname_from_external yields no usable internal name.
var (
	// ErrBadPrefix mirrors Cyrus's IMAP_NAMESPACE_BADPREFIX: an
	// altnamespace prefix that is too long, holds the hierarchy separator,
	// or makes the shared prefix a prefix of the other-users one.
	ErrBadPrefix = errors.New("namespace: bad namespace prefix")

	// ErrBadVirtDomains reports a VirtDomains value outside the three
	// modes Cyrus knows.
	ErrBadVirtDomains = errors.New("namespace: unknown virtdomains mode")

	// ErrEmptyName reports an empty external name, which Cyrus maps to no
	// mailbox.
	ErrEmptyName = errors.New("namespace: empty mailbox name")

	// ErrSpecialUse reports a name starting with '\', which Cyrus resolves
	// through the special-use annotations of the user's mailboxes; only a
	// backend holding those can answer.
	ErrSpecialUse = errors.New("namespace: special-use name needs the mailbox database")

	// ErrBadName reports a character the hierarchy separator reserves: '^'
	// with unixhierarchysep on, '/' with it off, or a NUL byte.
	ErrBadName = errors.New("namespace: invalid character in mailbox name")

	// ErrNoMailbox reports an external name that is only a namespace
	// prefix or separators, such as "Other Users" or "/", and so names no
	// mailbox.
	ErrNoMailbox = errors.New("namespace: name denotes no mailbox")
)
