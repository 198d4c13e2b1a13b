package raftfsm

import (
	"fmt"
	"slices"
	"strings"
)

// OpKind names a write to the database.
type OpKind uint8

const (
	OpReserve    OpKind = iota + 1 // RFC 3656 RESERVE
	OpActivate                     // RFC 3656 ACTIVATE
	OpDeactivate                   // RFC 3656 DEACTIVATE
	OpDelete                       // RFC 3656 DELETE
)

func (k OpKind) String() string {
	switch k {
	case OpReserve:
		return "RESERVE"
	case OpActivate:
		return "ACTIVATE"
	case OpDeactivate:
		return "DEACTIVATE"
	case OpDelete:
		return "DELETE"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one write. Location is unused by OpDelete, ACL by all but
// OpActivate.
type Op struct {
	Kind     OpKind
	Name     string
	Location string
	ACL      string
	// OnlyOn, if not empty, confines the operation to names that are absent or
	// whose entry is on one of these servers (a location's part before
	// '!'); otherwise it is refused with ErrWrongServer and changes
	// nothing. It is checked as the operation applies, so no concurrent
	// write can slip between the check and the change: it is how a
	// backend is held to its own mailboxes. While a member has not
	// declared that it reads LogFormatOnlyOn, the store refuses confined
	// operations with ErrCannotConfine (CanConfine says beforehand).
	OnlyOn []string
}

// Limits on what the database stores. Cyrus itself caps names well below
// MaxNameLen; ACLs grow with the number of identifiers.
const (
	MaxNameLen     = 1024
	MaxLocationLen = 1024
	MaxACLLen      = 64 << 10
	// MaxOnlyOn caps the servers of Op.OnlyOn.
	MaxOnlyOn = 64
)

// Validate reports a malformed operation. Writes are validated before they
// are proposed, so nothing malformed reaches the log, and again in Apply,
// which keeps Apply safe against any log.
func (o Op) Validate() error {
	if err := checkField("name", o.Name, MaxNameLen, false); err != nil {
		return err
	}
	// The Cyrus key turns '!' and '.' into these bytes; a name holding
	// them raw could collide with another name's key.
	if strings.ContainsAny(o.Name, "\x1d\x1f") {
		return fmt.Errorf("%w: name contains byte 0x1D or 0x1F", ErrInvalid)
	}
	switch o.Kind {
	case OpReserve, OpActivate, OpDeactivate:
		if err := checkField("location", o.Location, MaxLocationLen, false); err != nil {
			return err
		}
		// Cyrus clients reject a location with two '!' (mupdate_activate).
		if strings.Count(o.Location, "!") > 1 {
			return fmt.Errorf("%w: location %q has more than one '!'", ErrInvalid, o.Location)
		}
	case OpDelete:
	default:
		return fmt.Errorf("%w: unknown operation %d", ErrInvalid, o.Kind)
	}
	if o.Kind == OpActivate {
		if err := checkField("acl", o.ACL, MaxACLLen, true); err != nil {
			return err
		}
	} else if o.ACL != "" {
		return fmt.Errorf("%w: %s takes no ACL", ErrInvalid, o.Kind)
	}
	if len(o.OnlyOn) > MaxOnlyOn {
		return fmt.Errorf("%w: more than %d servers to confine an operation to", ErrInvalid, MaxOnlyOn)
	}
	for _, srv := range o.OnlyOn {
		if err := checkField("server", srv, MaxLocationLen, false); err != nil {
			return err
		}
		if strings.Contains(srv, "!") {
			return fmt.Errorf("%w: server %q contains '!'", ErrInvalid, srv)
		}
	}
	return nil
}

// Confined reports whether the operation is confined to servers (OnlyOn).
func (o Op) Confined() bool { return len(o.OnlyOn) > 0 }

// onServer reports whether location is on one of servers.
func onServer(location string, servers []string) bool {
	server, _, _ := strings.Cut(location, "!")
	return slices.Contains(servers, server)
}

// checkField refuses empty (unless allowed), oversized and line-breaking
// values: MUPDATE carries them as quoted strings, which cannot hold NUL, CR
// or LF.
func checkField(what, v string, max int, emptyOK bool) error {
	switch {
	case v == "" && !emptyOK:
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(v) > max:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	case strings.ContainsAny(v, "\x00\r\n"):
		return fmt.Errorf("%w: %s contains NUL, CR or LF", ErrInvalid, what)
	}
	return nil
}

// Result is the outcome of one operation.
type Result struct {
	// Err is nil on success, else wraps one of ErrExists, ErrNotFound,
	// ErrNotActive, ErrWrongServer, ErrInvalid or ErrAborted.
	Err error
	// Mailbox is the entry after the operation; nil when absent.
	Mailbox *Mailbox
	// Existed says whether the name existed before (meaningful for
	// OpDelete).
	Existed bool
}

// ApplyResponse is what Apply returns for a log entry of operations.
type ApplyResponse struct {
	Revision uint64
	Results  []Result
}
