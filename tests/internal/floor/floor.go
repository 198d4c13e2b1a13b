// Package floor measures what a replicated, durable write cannot go
// below on this machine, so benchmarks can state their figures against
// it in the same run.
package floor

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Floor is the least a replicated, durable write can cost here: the
// leader's log append, then the followers' in parallel, plus one loopback
// round trip. How many syncs an append makes depends on the log store
// (Syncs).
type Floor struct {
	Fsync, RTT time.Duration
	// Syncs is the fsyncs in a row of one replicated write.
	Syncs int
}

// Syncs returns the fsyncs in a row of one write replicated to a quorum
// with the named Raft log store: raft-wal syncs once per append, BoltDB
// twice (its pages, then its meta page), and the leader appends before
// the followers do.
func Syncs(store string) int {
	if store == "boltdb" {
		return 4
	}
	return 2
}

// Total is the floor of one write: Syncs fsyncs and a round trip.
func (f Floor) Total() time.Duration { return time.Duration(f.Syncs)*f.Fsync + f.RTT }

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// Measure measures the floor with the disk that holds dir, for writes
// to the named Raft log store ("wal" or "boltdb").
func Measure(dir, store string) (Floor, error) {
	f := Floor{Syncs: Syncs(store)}
	var err error
	if f.Fsync, err = measureFsync(dir); err != nil {
		return f, err
	}
	f.RTT, err = measureRTT()
	return f, err
}

// measureFsync times a small write plus fdatasync in dir, as a log
// append does.
func measureFsync(dir string) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	file, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		return 0, err
	}
	defer os.Remove(file.Name())
	defer file.Close()
	buf := make([]byte, 4096)
	var d []time.Duration
	for i := range 200 {
		t0 := time.Now()
		if _, err := file.WriteAt(buf, int64(i)*4096); err != nil {
			return 0, err
		}
		if err := file.Sync(); err != nil {
			return 0, err
		}
		d = append(d, time.Since(t0))
	}
	return median(d), nil
}

// measureRTT times a small message to an echo server on loopback and back.
func measureRTT() (time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 64)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	b := make([]byte, 64)
	var d []time.Duration
	for range 2000 {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return 0, err
		}
		if _, err := c.Read(b); err != nil {
			return 0, err
		}
		d = append(d, time.Since(t0))
	}
	return median(d), nil
}
