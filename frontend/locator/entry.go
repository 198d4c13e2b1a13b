package locator

import (
	"encoding/binary"
	"fmt"
	"strings"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
)

// Entry is one mailbox as the cache knows it.
type Entry struct {
	// Name is Cyrus's internal name (user.jane.Sent).
	Name string
	// Reserved: a backend has reserved the name but not yet made the
	// mailbox; it is not there for clients yet.
	Reserved bool
	// Location is server!partition.
	Location string
	// ACL is Cyrus's id TAB rights TAB pairs.
	ACL string
}

// Server returns the part of the location before '!': the backend.
func (e Entry) Server() string {
	server, _, _ := strings.Cut(e.Location, "!")
	return server
}

const (
	stateActive   = 'a'
	stateReserved = 'r'
)

// encode lays an entry's value out as a state byte, the location's length
// and the location, then the ACL.
func encode(m *roostv1.Mailbox) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen32+len(m.Location)+len(m.Acl))
	state := byte(stateActive)
	if m.State == roostv1.MailboxState_MAILBOX_STATE_RESERVED {
		state = stateReserved
	}
	b = append(b, state)
	b = binary.AppendUvarint(b, uint64(len(m.Location)))
	b = append(b, m.Location...)
	return append(b, m.Acl...)
}

func decode(name, v []byte) (Entry, error) {
	if len(v) < 2 {
		return Entry{}, fmt.Errorf("%w: entry %q is %d bytes", ErrCorrupt, name, len(v))
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || uint64(len(v)-1-k) < n {
		return Entry{}, fmt.Errorf("%w: entry %q has a bad location length", ErrCorrupt, name)
	}
	loc := v[1+k : 1+k+int(n)]
	return Entry{Name: string(name), Reserved: v[0] == stateReserved, Location: string(loc), ACL: string(v[1+k+int(n):])}, nil
}

// EntryOf is the entry of a mailbox as the API returns it, for a name
// asked of the cluster rather than read from the cache.
func EntryOf(m *roostv1.Mailbox) Entry {
	return Entry{Name: string(m.Name), Reserved: m.State == roostv1.MailboxState_MAILBOX_STATE_RESERVED,
		Location: string(m.Location), ACL: string(m.Acl)}
}
