package imapproxy

import "errors"

var (
	// errBackendGone is a backend connection that broke mid-command.
	errBackendGone = errors.New("imapproxy: backend connection lost")
	// errLogout ends a session after LOGOUT.
	errLogout = errors.New("imapproxy: logout")
)
