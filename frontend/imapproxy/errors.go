package imapproxy

import "errors"

var (
	// errBackendGone is a backend connection that broke mid-command.
	errBackendGone = errors.New("imapproxy: backend connection lost")
	// errDesync is a backend that broke in the middle of a response
	// already partly relayed: the client's stream cannot be trusted, and
	// the session ends.
	errDesync = errors.New("imapproxy: backend connection lost in the middle of a response")
	// errLogout ends a session after LOGOUT.
	errLogout = errors.New("imapproxy: logout")
)
