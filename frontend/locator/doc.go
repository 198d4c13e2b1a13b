// Package locator is roost-frontend's copy of the mailbox-location
// database: where each mailbox lives and its ACL, fed by the cluster's
// Watch stream (one full listing, then every change) and kept on disk, so
// that a restart resumes from its revision instead of downloading the
// whole database again, and so that the frontend keeps routing from the
// last state it knew while the cluster is unreachable.
//
// The copy is a bbolt file: lookups and listings read it through the page
// cache rather than the Go heap, so a million mailboxes cost the frontend
// no heap at all, and each batch of changes is committed with the
// revision it brings the copy to in one transaction, so a crash leaves a
// copy that is whole at some revision. A listing is written beside the
// current copy and replaces it in one transaction once complete.
package locator
