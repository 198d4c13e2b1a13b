package raftfsm

import (
	"fmt"
	"strings"
)

// What unchanged Cyrus 3.6 peers can take, from their source: a value past
// these breaks a frontend's mupdate slave or a backend, so the leader
// refuses it before proposing it (Op.CheckPeers). They are not checked in
// Apply or on restore, so that entries written before them still apply
// alike on every node.
const (
	// MaxPeerNameLen: Cyrus cuts longer names read back from its
	// mailboxes.db (MAX_MAILBOX_NAME), so they never match again.
	MaxPeerNameLen = 490
	// MaxPeerComponentLen: one level of the hierarchy, which backends
	// keep as a directory, as file systems allow a name.
	MaxPeerComponentLen = 255
	// MaxPeerUseridLen: a user's lock file is "*U*" + userid + ".lock",
	// which must fit a file name (255 bytes); Cyrus asserts on a lock it
	// could not take and the slave dies, again at every resync.
	MaxPeerUseridLen = 240
	// MaxPeerServerLen, MaxPeerPartitionLen: MAX_PARTITION_LEN, less the
	// NUL; a frontend cuts longer server names and never reuses its
	// connections to them.
	MaxPeerServerLen    = 63
	MaxPeerPartitionLen = 63
)

// CheckPeers reports a write that an unchanged Cyrus murder peer could not
// take, with ErrInvalid. Deletes are not checked: they remove what was
// written before.
func (o Op) CheckPeers() error {
	if o.Kind == OpDelete {
		return nil
	}
	if err := checkPeerName(o.Name); err != nil {
		return err
	}
	server, partition, _ := strings.Cut(o.Location, "!")
	switch {
	case server == "":
		return fmt.Errorf("%w: location %q has no server", ErrInvalid, o.Location)
	case len(server) > MaxPeerServerLen:
		return fmt.Errorf("%w: server %q is longer than the %d bytes Cyrus peers take", ErrInvalid, server, MaxPeerServerLen)
	case len(partition) > MaxPeerPartitionLen:
		return fmt.Errorf("%w: partition %q is longer than the %d bytes Cyrus peers take", ErrInvalid, partition, MaxPeerPartitionLen)
	case hasControl(o.Location):
		return fmt.Errorf("%w: location %q contains a control byte", ErrInvalid, o.Location)
	}
	if o.Kind == OpActivate && o.ACL != "" {
		// id TAB rights TAB, again and again: Cyrus stores an ACL as
		// pairs, and one of another shape comes back different, so a
		// slave would rewrite it at every resync.
		if !strings.HasSuffix(o.ACL, "\t") || strings.Count(o.ACL, "\t")%2 != 0 || strings.Contains(o.ACL, "\t\t") || strings.HasPrefix(o.ACL, "\t") {
			return fmt.Errorf("%w: ACL %q is not identifier TAB rights TAB pairs", ErrInvalid, o.ACL)
		}
	}
	return nil
}

func checkPeerName(name string) error {
	switch {
	case len(name) > MaxPeerNameLen:
		return fmt.Errorf("%w: name is %d bytes, more than the %d Cyrus peers take", ErrInvalid, len(name), MaxPeerNameLen)
	case hasControl(name):
		return fmt.Errorf("%w: name %q contains a control byte", ErrInvalid, name)
	case strings.Count(name, "!") > 1:
		return fmt.Errorf("%w: name %q has more than one '!' (domain!mailbox)", ErrInvalid, name)
	}
	domain, mbox, hasDomain := strings.Cut(name, "!")
	if !hasDomain {
		domain, mbox = "", name
	} else if domain == "" {
		return fmt.Errorf("%w: name %q has an empty domain", ErrInvalid, name)
	}
	parts := strings.Split(mbox, ".")
	for _, p := range parts {
		switch {
		case p == "":
			// Cyrus splits names with strtok, so "user..bob" and
			// "user.bob." are user.bob to a slave.
			return fmt.Errorf("%w: name %q has an empty hierarchy level", ErrInvalid, name)
		case len(p) > MaxPeerComponentLen:
			return fmt.Errorf("%w: name %q has a level of %d bytes, more than the %d Cyrus peers take", ErrInvalid, name, len(p), MaxPeerComponentLen)
		}
	}
	if len(parts) >= 2 && parts[0] == "user" {
		userid := parts[1]
		if domain != "" {
			userid += "@" + domain
		}
		if len(userid) > MaxPeerUseridLen {
			return fmt.Errorf("%w: user %q is %d bytes, more than the %d Cyrus peers take", ErrInvalid, userid, len(userid), MaxPeerUseridLen)
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
