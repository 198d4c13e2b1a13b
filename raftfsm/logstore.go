package raftfsm

import "github.com/hashicorp/raft"

// detachedLogs hands the log store under it copies of the entries raft
// stores. A leader's new entries come as pointers into their apply
// futures, and raft.LogCache keeps the pointers it is given: each cached
// entry would keep its future alive, and with it the entry's
// ApplyResponse, about 110 bytes per operation, long after the callers
// had their answers (a hundred megabytes for a cache of 1,000-operation
// batches). Copying the Log struct, not its data, lets the future go.
type detachedLogs struct{ raft.LogStore }

func (d detachedLogs) StoreLog(l *raft.Log) error { return d.StoreLogs([]*raft.Log{l}) }

func (d detachedLogs) StoreLogs(logs []*raft.Log) error {
	copies := make([]*raft.Log, len(logs))
	for i, l := range logs {
		// One allocation each: copies sharing an array would keep one
		// another, data included, alive for as long as any is cached.
		c := *l
		copies[i] = &c
	}
	return d.LogStore.StoreLogs(copies)
}

// IsMonotonic passes on what the store under it says (raft.MonotonicLogStore),
// which wrapping would otherwise hide.
func (d detachedLogs) IsMonotonic() bool {
	m, ok := d.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
