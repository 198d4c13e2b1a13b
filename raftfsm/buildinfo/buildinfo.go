// Package buildinfo says which build of Roost is running, from what the
// Go toolchain stamps into every binary: the module version (a tag or a
// pseudo-version from version control) and the commit it was built from.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info describes a build.
type Info struct {
	Version  string // the main module's version, "(devel)" when unknown
	Revision string // the commit, with "-dirty" for uncommitted changes; "" when unknown
	Time     string // the commit's time, RFC 3339; "" when unknown
	Go       string // the toolchain
}

// Read returns the running binary's build.
func Read() Info {
	info := Info{Version: "(devel)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && info.Revision != "" {
		info.Revision += "-dirty"
	}
	return info
}

// String is what --version prints after the program's name.
func (i Info) String() string {
	s := i.Version
	if i.Revision != "" {
		s += fmt.Sprintf(" (%s, %s)", i.Revision, i.Time)
	}
	return s + " " + i.Go
}
