package client

import "errors"

var (
	// ErrNoEndpoints is returned by New when Config names no endpoint.
	ErrNoEndpoints = errors.New("client: no endpoints")
	// ErrCompacted is returned by Watch when no node's history reaches
	// back to the revision to resume after and Relist is off: the caller
	// has to start again from a listing.
	ErrCompacted = errors.New("client: the cluster's history no longer reaches the revision to resume after")
	// ErrPasswordNeedsTLS is returned by New for a password without TLS:
	// it would travel in the clear.
	ErrPasswordNeedsTLS = errors.New("client: a user name and password need TLS")
	// ErrWriterClosed is returned by a Writer's Write after Close.
	ErrWriterClosed = errors.New("client: writer closed")
)
