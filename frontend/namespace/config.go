package namespace

import (
	"fmt"
	"strings"
)

// Defaults of the imapd.conf options this package reads, as lib/imapoptions
// gives them for Cyrus 3.x. An empty string in a [Config] field means the
// matching default, because Cyrus itself never runs with these unset.
const (
	DefaultUserPrefix    = "Other Users"
	DefaultSharedPrefix  = "Shared Folders"
	DefaultAltPrefix     = "Alt Folders"
	DefaultDeletedPrefix = "DELETED"
	DefaultDomain        = "internal"
)

// maxPrefixLen is Cyrus's MAX_NAMESPACE_PREFIX: mboxname_init_namespace
// rejects a user or shared prefix of this length or longer.
const maxPrefixLen = 40

// VirtDomains is Cyrus's virtdomains option. The modes differ only in how a
// login without a domain gets one (userid: defaultdomain; on: a reverse
// lookup of the local address), which happens before a userid reaches this
// package, so mapping treats VirtDomainsUserID and VirtDomainsOn alike.
type VirtDomains int

// The virtdomains modes, in lib/imapoptions order; the zero value is Cyrus's
// default.
const (
	VirtDomainsOff VirtDomains = iota
	VirtDomainsUserID
	VirtDomainsOn
)

// String returns the imapd.conf spelling, so that logs and errors read like
// the configuration they came from.
func (v VirtDomains) String() string {
	switch v {
	case VirtDomainsOff:
		return "off"
	case VirtDomainsUserID:
		return "userid"
	case VirtDomainsOn:
		return "on"
	}
	return fmt.Sprintf("VirtDomains(%d)", int(v))
}

// Config holds the imapd.conf options of the backends that shape mailbox
// names. Every backend of a murder must agree on them, and the frontend
// must use the same values, or it will route names to the wrong mailbox.
//
// The zero Config is Cyrus with unixhierarchysep and altnamespace set to
// "no" (the 2.x behaviour) and every string option at its default; use
// [DefaultConfig] for a stock Cyrus 3.x.
type Config struct {
	// UnixHierarchySep is unixhierarchysep: '/' separates levels for
	// clients and a '.' inside a level is stored as '^'. False means the
	// netnews separator '.', where '^' on the wire stands for a stored '.'.
	UnixHierarchySep bool

	// AltNamespace is altnamespace: a user's folders appear beside INBOX
	// ("Sent", not "INBOX.Sent"), with other users and shared folders
	// under UserPrefix and SharedPrefix. Admins never get it, as in Cyrus.
	AltNamespace bool

	// VirtDomains is virtdomains; zero is off.
	VirtDomains VirtDomains

	// DefaultDomain is defaultdomain: mailboxes of this domain carry no
	// "domain!" in their internal name. Empty means "internal", Cyrus's
	// default.
	DefaultDomain string

	// CrossDomains is crossdomains: non-admin users see other domains'
	// users and shared folders, written with an "@domain" on the first
	// level. False keeps each user inside their own domain.
	CrossDomains bool

	// CrossDomainsOnlyOther is crossdomains_onlyother: with CrossDomains,
	// the "@domain" is shown only for domains other than the user's own.
	CrossDomainsOnlyOther bool

	// UserPrefix is userprefix, the altnamespace prefix of other users'
	// mailboxes. Empty means "Other Users".
	UserPrefix string

	// SharedPrefix is sharedprefix, the altnamespace prefix of shared
	// folders. Empty means "Shared Folders".
	SharedPrefix string

	// AltPrefix is altprefix, where altnamespace shows the user's own
	// folders whose names would clash with INBOX or the prefixes. Empty
	// means "Alt Folders".
	AltPrefix string

	// DeletedPrefix is deletedprefix, the first level of mailboxes kept by
	// delete_mode: delayed. Empty means "DELETED".
	DeletedPrefix string

	// AllowDeleted is allowdeleted: non-admins may LIST deleted mailboxes
	// they still have rights on, when they ask with the
	// VENDOR.CMU-INCLUDE-DELETED selection option. False hides them from
	// everyone but admins, Cyrus's default.
	AllowDeleted bool

	// DisableUserNamespace is disable_user_namespace: LIST and NAMESPACE
	// omit other users' mailboxes for non-admins. Names still map.
	DisableUserNamespace bool

	// DisableSharedNamespace is disable_shared_namespace: LIST and
	// NAMESPACE omit shared folders for non-admins. Names still map.
	DisableSharedNamespace bool
}

// DefaultConfig returns the settings of an unconfigured Cyrus 3.x:
// unixhierarchysep and altnamespace on (both changed in 3.0), virtdomains
// off and the default prefixes.
func DefaultConfig() Config {
	return Config{UnixHierarchySep: true, AltNamespace: true}.withDefaults()
}

// withDefaults fills the empty string options, so the rest of the package
// can compare against them without asking what empty means.
func (c Config) withDefaults() Config {
	fill := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	fill(&c.DefaultDomain, DefaultDomain)
	fill(&c.UserPrefix, DefaultUserPrefix)
	fill(&c.SharedPrefix, DefaultSharedPrefix)
	fill(&c.AltPrefix, DefaultAltPrefix)
	fill(&c.DeletedPrefix, DefaultDeletedPrefix)
	return c
}

// hierSep is the separator clients see, as mboxname_init_namespace picks it.
func (c Config) hierSep() byte {
	if c.UnixHierarchySep {
		return '/'
	}
	return '.'
}

// Validate reports the settings Cyrus refuses. mboxname_init_namespace
// checks the prefixes only when altnamespace is on, and a non-admin login
// then fails with IMAP_NAMESPACE_BADPREFIX; Validate refuses them up front
// instead, because the frontend should not start with a namespace its users
// cannot log in to. Like Cyrus, it does not check AltPrefix.
func (c Config) Validate() error {
	if c.VirtDomains < VirtDomainsOff || c.VirtDomains > VirtDomainsOn {
		return fmt.Errorf("%w: %s", ErrBadVirtDomains, c.VirtDomains)
	}
	if !c.AltNamespace {
		return nil
	}
	c = c.withDefaults()
	sep := c.hierSep()
	if err := checkPrefix("userprefix", c.UserPrefix, sep); err != nil {
		return err
	}
	if err := checkPrefix("sharedprefix", c.SharedPrefix, sep); err != nil {
		return err
	}
	if strings.HasPrefix(c.UserPrefix+string(sep), c.SharedPrefix) {
		return fmt.Errorf("%w: sharedprefix %q is a prefix of userprefix %q",
			ErrBadPrefix, c.SharedPrefix, c.UserPrefix)
	}
	return nil
}

// checkPrefix applies mboxname_init_namespace's test of one prefix.
func checkPrefix(option, prefix string, sep byte) error {
	switch {
	case len(prefix) >= maxPrefixLen:
		return fmt.Errorf("%w: %s %q is %d bytes or longer", ErrBadPrefix, option, prefix, maxPrefixLen)
	case strings.IndexByte(prefix, sep) >= 0:
		return fmt.Errorf("%w: %s %q contains the separator %q", ErrBadPrefix, option, prefix, sep)
	}
	return nil
}
