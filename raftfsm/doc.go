// Package raftfsm is Roost's replicated mailbox-location database: the Raft
// state machine (FSM) that holds every mailbox entry, the revision history
// that change streams resume from, and the Store that runs hashicorp/raft
// over it with a BoltDB log and file snapshots.
//
// Every change is a Raft log entry, and the Raft index of that entry is the
// revision of the change. Apply is deterministic: it reads nothing but the
// log entry and the current state, so every node holds the same table at the
// same revision. See DESIGN.md for why the code is shaped as it is.
package raftfsm
