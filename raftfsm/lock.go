package raftfsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the data directory's lock: one process at a time uses a
// directory, and a second one is told so at once, before it opens
// anything else there.
const lockFile = "roost.lock"

// dirLock is a held lock on a data directory.
type dirLock struct{ f *os.File }

// lockDir takes dir's lock, without waiting. It holds the process ID of
// its holder, for the message a second process gets.
func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if b, rerr := os.ReadFile(f.Name()); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
					holder = "process " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("%w: %s is locked by %s (is a roostd already running on it?)", ErrStoreInUse, dir, holder)
		}
		return nil, fmt.Errorf("raftfsm: lock %s: %w", f.Name(), err)
	}
	// The lock, not the file's content, is what excludes: a stale PID
	// left by a crash is simply overwritten.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// unlock releases the lock; closing the file does.
func (l *dirLock) unlock() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
