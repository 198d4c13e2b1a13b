package locator

import "errors"

var (
	// ErrClosed is returned by calls on a closed Cache.
	ErrClosed = errors.New("locator: closed")
	// ErrCorrupt is returned by Open for a file that is not a cache of
	// this format.
	ErrCorrupt = errors.New("locator: not a location cache of this format")
)
