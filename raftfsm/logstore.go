package raftfsm

import (
	"sync"

	"github.com/hashicorp/raft"
)

// The log cache's bounds: at most this many entries and bytes of entry
// data per node. A coalesced write entry of 256 single writes is about
// 15 KB, so the entry bound is the one that holds on the write path;
// the byte bound holds when entries carry big Batch calls (an import).
const (
	logCacheEntries = 1024
	logCacheBytes   = 32 << 20
)

// logCache keeps the newest log entries in memory in front of the log
// store, as raft.LogCache does, but bounded in bytes as well as in
// entries, and holding copies of what it is given.
//
// Raft reads entries back soon after storing them: a leader to send them
// to followers, a follower to apply them once they commit. Serving those
// from memory spares a BoltDB read and decode each. raft.LogCache bounds
// the entry count only, and one entry may carry a Batch call of 16 MiB:
// 1,024 of them would pin 16 GiB. It also keeps the pointers it is given,
// and a leader's new entries are fields of their apply futures, so each
// cached entry would keep its future, and the entry's results (about 110
// bytes an operation), alive long after the callers had their answers.
type logCache struct {
	raft.LogStore
	maxBytes int

	// Protected by mu. The entries in ring are copies made before they
	// were stored and never written again, so GetLog may copy one out
	// after letting go of the lock.
	mu     sync.RWMutex
	ring   []*raft.Log // entries by index modulo the ring's length
	bytes  int         // what the entries in ring weigh (logWeight)
	oldest uint64      // no entry below it is in ring
	newest uint64      // the last index stored; 0 when ring is empty
}

func newLogCache(store raft.LogStore, entries, maxBytes int) *logCache {
	if entries <= 0 || maxBytes <= 0 {
		panic("raftfsm: a log cache needs room for entries and bytes")
	}
	return &logCache{LogStore: store, maxBytes: maxBytes, ring: make([]*raft.Log, entries)}
}

// logWeight is what an entry costs the cache: its data and extensions,
// and its struct.
func logWeight(l *raft.Log) int { return len(l.Data) + len(l.Extensions) + 128 }

func (c *logCache) GetLog(index uint64, log *raft.Log) error {
	c.mu.RLock()
	cached := c.ring[index%uint64(len(c.ring))]
	c.mu.RUnlock()
	if cached != nil && cached.Index == index {
		*log = *cached
		return nil
	}
	return c.LogStore.GetLog(index, log)
}

func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores copies of logs, then caches them: one allocation
// each, as copies sharing an array would keep one another alive. The
// store gets the copies too, should it keep what it is given.
func (c *logCache) StoreLogs(logs []*raft.Log) error {
	copies := make([]*raft.Log, len(logs))
	for i, l := range logs {
		cp := *l
		copies[i] = &cp
	}
	if err := c.LogStore.StoreLogs(copies); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := uint64(len(c.ring))
	for _, l := range copies {
		if c.newest != 0 && l.Index != c.newest+1 {
			// Raft deletes a log's tail before writing it again, which
			// empties the cache; a follower that installed a snapshot
			// may go on from past its last entry without deleting any.
			// Either way, entries out of sequence would escape the
			// eviction below, which walks up from the oldest: start
			// over.
			c.reset()
		}
		slot := &c.ring[l.Index%n]
		if old := *slot; old != nil {
			c.bytes -= logWeight(old)
			*slot = nil
		}
		c.newest = l.Index
		if c.oldest == 0 {
			c.oldest = l.Index
		}
		// Entries more than a ring's length back were overwritten.
		c.oldest = max(c.oldest, c.newest-min(c.newest, n-1))
		w := logWeight(l)
		if w > c.maxBytes {
			continue // it would push out everything else
		}
		*slot = l
		c.bytes += w
		for c.bytes > c.maxBytes && c.oldest < c.newest {
			s := c.oldest % n
			if e := c.ring[s]; e != nil && e.Index == c.oldest {
				c.bytes -= logWeight(e)
				c.ring[s] = nil
			}
			c.oldest++
		}
	}
	return nil
}

// DeleteRange empties the cache before deleting, as raft.LogCache does:
// raft deletes a prefix after a snapshot and a follower's conflicting
// tail, both rare.
func (c *logCache) DeleteRange(min, max uint64) error {
	c.mu.Lock()
	c.reset()
	c.mu.Unlock()
	return c.LogStore.DeleteRange(min, max)
}

func (c *logCache) reset() {
	clear(c.ring)
	c.bytes, c.oldest, c.newest = 0, 0, 0
}

// IsMonotonic passes on what the store under it says (raft.MonotonicLogStore),
// which wrapping would otherwise hide.
func (c *logCache) IsMonotonic() bool {
	m, ok := c.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
