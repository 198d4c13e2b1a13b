package locator

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"time"

	roostv1 "github.com/roost-mail/roost/proto/roost/v1"
	"github.com/roost-mail/roost/raftfsm/client"
	"go.etcd.io/bbolt"
)

// Source is where changes come from: *client.Client.
type Source interface {
	Watch(ctx context.Context, opts client.WatchOptions, fn func(client.Update) error) error
}

// stagingBatch is how many listing entries one transaction writes: a
// million-mailbox listing then costs a few dozen disk syncs, not a
// thousand.
const stagingBatch = 20_000

// ProgressInterval is how often a quiet cluster is asked to say it is
// there, which bounds how stale the lag figures can be.
const ProgressInterval = time.Second

// Run follows src until ctx ends, returning ctx's error, or until the
// disk fails. A cache that was never synced starts with a full listing; one
// that was resumes after its revision, and lists again only if the
// cluster's history no longer reaches back that far.
func (c *Cache) Run(ctx context.Context, src Source) error {
	opts := client.WatchOptions{AfterRevision: c.Revision(), Listing: !c.Ready(), Relist: true,
		ProgressInterval: ProgressInterval,
		OnInterrupt: func(err error, after uint64) {
			if c.m != nil {
				c.m.interruptions.Inc()
			}
		}}
	f := &follower{c: c}
	err := src.Watch(ctx, opts, f.update)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// follower applies one Watch's updates; it is used by Run's goroutine only.
type follower struct {
	c       *Cache
	staging []*roostv1.Mailbox // listing entries not yet written
	target  int                // the table a listing is written into
	listed  int                // entries of the listing written so far
	counts  map[string]int     // the listing's mailboxes per server so far
}

func (f *follower) update(u client.Update) error {
	c := f.c
	now := time.Now().UnixNano()
	c.lastContact.Store(now)
	if u.Reset {
		if err := f.startListing(); err != nil {
			return err
		}
	}
	if len(u.Listing) > 0 {
		f.staging = append(f.staging, u.Listing...)
		if len(f.staging) >= stagingBatch {
			if err := f.flush(); err != nil {
				return err
			}
		}
	}
	if u.ListingComplete {
		if err := f.finishListing(u.Revision); err != nil {
			return err
		}
	}
	if len(u.Events) > 0 || (u.Revision > c.Revision() && !u.ListingComplete && u.Revision > 0) {
		if err := f.apply(u.Events, u.Revision); err != nil {
			return err
		}
	}
	if u.Revision > 0 {
		behind := uint64(0)
		if u.NodeRevision > u.Revision {
			behind = u.NodeRevision - u.Revision
		} else {
			c.inSyncAt.Store(now)
		}
		c.behind.Store(behind)
	}
	return nil
}

// startListing empties the table beside the live one for a new listing.
func (f *follower) startListing() error {
	f.staging, f.listed, f.counts = f.staging[:0], 0, map[string]int{}
	if f.c.m != nil {
		f.c.m.listings.Inc()
	}
	return f.c.db.Update(func(tx *bbolt.Tx) error {
		f.target = 1 - liveIndex(tx)
		if tx.Bucket(tables[f.target]) != nil {
			if err := tx.DeleteBucket(tables[f.target]); err != nil {
				return err
			}
		}
		_, err := tx.CreateBucket(tables[f.target])
		return err
	})
}

// flush writes the listing entries received so far into the target table.
func (f *follower) flush() error {
	err := f.c.db.Update(func(tx *bbolt.Tx) error { return f.put(tx) })
	f.staging = f.staging[:0]
	return err
}

func (f *follower) put(tx *bbolt.Tx) error {
	b := tx.Bucket(tables[f.target])
	if b == nil {
		return errors.New("locator: listing table vanished")
	}
	// A listing arrives in nearly ascending order: full pages split least.
	b.FillPercent = 0.9
	for _, m := range f.staging {
		if err := b.Put(m.Name, encode(m)); err != nil {
			return err
		}
		f.counts[serverOf(m.Location)]++
	}
	f.listed += len(f.staging)
	return nil
}

// finishListing writes the rest of the listing and makes its table the
// live one at rev, in one transaction.
func (f *follower) finishListing(rev uint64) error {
	c := f.c
	err := c.db.Update(func(tx *bbolt.Tx) error {
		if err := f.put(tx); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		old := liveIndex(tx)
		meta.Put(keyCurrent, []byte{byte(f.target)})
		meta.Put(keyRevision, u64(rev))
		meta.Put(keySynced, []byte{1})
		meta.Put(keyCount, u64(uint64(f.listed)))
		if err := tx.DeleteBucket(bucketServers); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketServers); err != nil {
			return err
		}
		if err := putServers(tx, nil, f.counts); err != nil {
			return err
		}
		return tx.DeleteBucket(tables[old])
	})
	f.staging = f.staging[:0]
	if err != nil {
		return err
	}
	c.rev.Store(rev)
	c.synced.Store(true)
	c.logger.Info("listing complete", "revision", rev, "mailboxes", f.listed)
	c.notify(f.listed, f.counts)
	f.counts = nil
	return nil
}

// apply writes events and the revision they bring the copy to in one
// transaction.
func (f *follower) apply(events []*roostv1.Event, rev uint64) error {
	c := f.c
	var n int
	c.mu.Lock()
	old := c.servers // replaced, never changed: safe to read after Unlock
	c.mu.Unlock()
	servers := maps.Clone(old)
	err := c.db.Update(func(tx *bbolt.Tx) error {
		b, meta := c.table(tx), tx.Bucket(bucketMeta)
		n = int(binary.BigEndian.Uint64(meta.Get(keyCount)))
		for _, ev := range events {
			prev := b.Get(ev.Mailbox.Name)
			if prev != nil {
				if e, err := decode(ev.Mailbox.Name, prev); err == nil {
					servers[e.Server()]--
				}
			}
			var err error
			switch {
			case ev.Type == roostv1.EventType_EVENT_TYPE_DELETE:
				if prev != nil {
					err, n = b.Delete(ev.Mailbox.Name), n-1
				}
			default:
				if err = b.Put(ev.Mailbox.Name, encode(ev.Mailbox)); prev == nil {
					n++
				}
				servers[serverOf(ev.Mailbox.Location)]++
			}
			if err != nil {
				return err
			}
		}
		if err := putServers(tx, old, servers); err != nil {
			return err
		}
		meta.Put(keyCount, u64(uint64(n)))
		return meta.Put(keyRevision, u64(rev))
	})
	if err != nil {
		return err
	}
	maps.DeleteFunc(servers, func(_ string, k int) bool { return k <= 0 })
	c.rev.Store(rev)
	c.notify(n, servers)
	return nil
}

// serverOf is the server of a location, server!partition.
func serverOf(location []byte) string {
	server, _, _ := bytes.Cut(location, []byte("!"))
	return string(server)
}
