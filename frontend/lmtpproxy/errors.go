package lmtpproxy

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// Permanent replies of the proxy's own. go-smtp sends an *smtp.SMTPError
// as it is and anything else as a generic failure, so replies are
// *smtp.SMTPError values, never wrapped.
var (
	errUnknown    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unknown"}
	errDenied     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Permission denied: the sender may not post to this folder"}
	errBareNL     = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Message contains bare newlines"}
	errBadAddress = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad address syntax"}
	errTooBig     = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message exceeds the maximum size"}
)

// The causes of temporary failures, as the metrics label them.
const (
	causeUnsynced = "unsynced"     // the cache has never completed a sync
	causeStale    = "stale"        // the cache lost the cluster too long ago
	causeCluster  = "cluster"      // a name the cache lacks could not be confirmed
	causeReserved = "reserved"     // the mailbox is being created or moved
	causeDown     = "backend_down" // its backend could not be reached or broke
	causeMoved    = "moved"        // its backend says it has no such mailbox
	causeBackend  = "backend"      // its backend's own 4xx
	causeSpool    = "spool"        // the message could not be held on disk
	causeClient   = "client"       // the client's data broke off
)

// tempfail is a 451 the proxy gives one recipient, counted by cause.
func (s *Server) tempfail(cause string, enhanced smtp.EnhancedCode, format string, args ...any) *smtp.SMTPError {
	s.m.tempfail(cause)
	return &smtp.SMTPError{Code: 451, EnhancedCode: enhanced, Message: fmt.Sprintf(format, args...)}
}
