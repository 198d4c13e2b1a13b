// Package acl computes a user's rights on a mailbox from Cyrus's ACL
// string, the way Cyrus's own frontend and lmtpd do (lib/acl_afs.c,
// imap/mboxlist.c): the union of the rights of every identifier the user
// matches (the user, anyone, the groups it belongs to), minus the
// negative rights (-identifier) of those identifiers, plus the rights a
// mailbox's owner always has.
package acl
