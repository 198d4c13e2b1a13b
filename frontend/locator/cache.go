package locator

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// FileName is the cache's file inside its directory.
const FileName = "locations.db"

// format 2 added the per-server counts.
const format = 2

var (
	bucketMeta  = []byte("meta")
	keyFormat   = []byte("format")
	keyCurrent  = []byte("current")
	keyRevision = []byte("revision")
	keySynced   = []byte("synced")
	keyCount    = []byte("count")
	tables      = [2][]byte{[]byte("a"), []byte("b")}
	// bucketServers counts the live table's mailboxes per server, for
	// placing new mailboxes on the backend with the fewest.
	bucketServers = []byte("servers")
)

// Cache is the on-disk copy of the location database. Reads are safe
// from any goroutine while Run applies changes.
type Cache struct {
	db     *bbolt.DB    // immutable
	logger *slog.Logger // immutable
	m      *metrics     // immutable; may be nil

	rev    atomic.Uint64 // the revision the copy is whole at
	synced atomic.Bool   // a listing was completed, now or before a restart

	mu      sync.Mutex
	changed chan struct{}  // protected by mu: closed and replaced at every change
	entries int            // protected by mu: mailboxes in the live table
	servers map[string]int // protected by mu: the live table's mailboxes per server; replaced, never changed

	lastContact atomic.Int64 // unix nanoseconds of the last message; 0: none since Open
	inSyncAt    atomic.Int64 // unix nanoseconds when the copy last had all the node had
	behind      atomic.Uint64
}

// Options configure Open. A nil *Options means the defaults.
type Options struct {
	// Logger receives the cache's lifecycle; nil discards.
	Logger *slog.Logger
	// Metrics, when set, registers the cache's lag and size there.
	Metrics Registerer
}

// Open opens (or creates) the cache in dir. Only one process may have it
// open: a second one waits up to a second for the file lock, then fails.
func Open(dir string, opts *Options) (*Cache, error) {
	if opts == nil {
		opts = &Options{}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("locator: open %s: %w", dir, err)
	}
	c := &Cache{db: db, logger: logger.With("component", "locator"), changed: make(chan struct{})}
	if err := c.load(); err != nil {
		db.Close()
		return nil, err
	}
	if opts.Metrics != nil {
		c.m = newMetrics(c, opts.Metrics)
	}
	return c, nil
}

// load reads the meta bucket, creating it in a new file. A file of an
// older format is emptied: it is a cache, and the next Run lists again.
func (c *Cache) load() error {
	return c.db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var f []byte
		if meta != nil {
			f = meta.Get(keyFormat)
		}
		if len(f) == 8 && binary.BigEndian.Uint64(f) < format {
			c.logger.Info("cache of an older format: listing again", "format", binary.BigEndian.Uint64(f))
			for _, b := range [][]byte{bucketMeta, tables[0], tables[1], bucketServers} {
				if tx.Bucket(b) != nil {
					if err := tx.DeleteBucket(b); err != nil {
						return err
					}
				}
			}
			meta = nil
		}
		if meta == nil {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			meta.Put(keyFormat, u64(format))
			meta.Put(keyCurrent, []byte{0})
			meta.Put(keyRevision, u64(0))
			meta.Put(keyCount, u64(0))
			if _, err := tx.CreateBucket(tables[0]); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketServers); err != nil {
				return err
			}
		}
		if f := meta.Get(keyFormat); len(f) != 8 || binary.BigEndian.Uint64(f) != format {
			return ErrCorrupt
		}
		cur, rev, count := meta.Get(keyCurrent), meta.Get(keyRevision), meta.Get(keyCount)
		servers := tx.Bucket(bucketServers)
		if len(cur) != 1 || cur[0] > 1 || len(rev) != 8 || len(count) != 8 || tx.Bucket(tables[cur[0]]) == nil || servers == nil {
			return ErrCorrupt
		}
		c.rev.Store(binary.BigEndian.Uint64(rev))
		c.synced.Store(meta.Get(keySynced) != nil)
		c.entries = int(binary.BigEndian.Uint64(count))
		c.servers = map[string]int{}
		return servers.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return ErrCorrupt
			}
			c.servers[string(k)] = int(binary.BigEndian.Uint64(v))
			return nil
		})
	})
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Close closes the file. Run must have returned.
func (c *Cache) Close() error { return c.db.Close() }

// Revision returns the revision the copy is whole at.
func (c *Cache) Revision() uint64 { return c.rev.Load() }

// Ready reports whether the copy holds a whole database: a first listing
// completed, in this process or before a restart. A ready cache routes
// from what it knows even while the cluster is away.
func (c *Cache) Ready() bool { return c.synced.Load() }

// Len returns how many mailboxes the copy holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries
}

// Servers returns how many mailboxes the copy holds on each server.
func (c *Cache) Servers() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.servers)
}

// Lookup returns the entry of an internal name.
func (c *Cache) Lookup(name string) (Entry, bool) {
	var e Entry
	var found bool
	err := c.db.View(func(tx *bbolt.Tx) error {
		v := c.table(tx).Get([]byte(name))
		if v == nil {
			return nil
		}
		var err error
		e, err = decode([]byte(name), v)
		found = err == nil
		return err
	})
	if err != nil {
		c.logger.Error("lookup", "mailbox", name, "err", err)
	}
	return e, found
}

// List calls fn for every entry whose name starts with prefix, in byte
// order, until fn returns false. The entries are one consistent state.
func (c *Cache) List(prefix string, fn func(Entry) bool) error {
	return c.db.View(func(tx *bbolt.Tx) error {
		cur := c.table(tx).Cursor()
		p := []byte(prefix)
		for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
			e, err := decode(k, v)
			if err != nil {
				return err
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// table returns the live table as tx sees it: read from the transaction's
// own meta bucket, so a reader never mixes two states across a swap.
func (c *Cache) table(tx *bbolt.Tx) *bbolt.Bucket {
	return tx.Bucket(tables[liveIndex(tx)])
}

func liveIndex(tx *bbolt.Tx) int {
	return int(tx.Bucket(bucketMeta).Get(keyCurrent)[0])
}

// WaitFor returns once cond holds, checking it now and after every change
// the cache applies, or ctx's error once ctx ends. The proxy uses it to
// show a client its own CREATE, RENAME or DELETE.
func (c *Cache) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notify wakes every WaitFor after a change, with the live table's size
// and counts per server.
func (c *Cache) notify(entries int, servers map[string]int) {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.entries, c.servers = entries, servers
	c.mu.Unlock()
}

// putServers writes the counts that changed from old to now.
func putServers(tx *bbolt.Tx, old, now map[string]int) error {
	b := tx.Bucket(bucketServers)
	for server, n := range now {
		if old[server] == n {
			continue
		}
		var err error
		if n <= 0 {
			err = b.Delete([]byte(server))
		} else {
			err = b.Put([]byte(server), u64(uint64(n)))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Lag says how far behind the cache may be: the revisions the node it
// follows had beyond it at the last message, when it last held everything
// that node had, and when it last heard from the cluster. The times are
// zero when it has not since Open.
func (c *Cache) Lag() (revisions uint64, inSyncAt, lastContact time.Time) {
	t := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	return c.behind.Load(), t(c.inSyncAt.Load()), t(c.lastContact.Load())
}
