// Package filestamp tells whether files have changed since they were last
// read, without reading them: how a node notices a rotated certificate or
// an edited users file between SIGHUPs.
package filestamp

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Stamp identifies versions of a set of files: it changes when any of them
// is written, replaced or renamed over (as a Kubernetes secret's symlink is
// swapped). The zero Stamp matches no files.
type Stamp string

// Of returns the stamp of paths, following symbolic links.
func Of(paths ...string) (Stamp, error) {
	var b strings.Builder
	for _, p := range paths {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(&b, "%s:%d:%d:%d;", p, fi.ModTime().UnixNano(), fi.Size(), ino)
	}
	return Stamp(b.String()), nil
}

// Versions remembers which version of a set of files was last loaded and
// which was last refused, so that a poll loads each new version once and
// reports a bad one once. Safe for concurrent use.
type Versions struct {
	paths []string // immutable

	mu              sync.Mutex // serialises Reload
	loaded, refused Stamp      // protected by mu
}

// NewVersions tracks paths; empty ones are skipped.
func NewVersions(paths ...string) *Versions { return &Versions{paths: paths} }

// Reload calls load if the files have changed since they were last loaded
// or refused, or always with force, and reports whether load succeeded.
// load's error is returned, and that version is refused.
func (v *Versions) Reload(force bool, load func() error) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	stamp, err := Of(v.paths...)
	if err != nil {
		return false, err
	}
	if !force && (stamp == v.loaded || stamp == v.refused) {
		return false, nil
	}
	if err := load(); err != nil {
		v.refused = stamp
		return false, err
	}
	v.loaded = stamp
	return true, nil
}
