// Package namespace maps the mailbox names an IMAP client sees (external
// names) to the names Cyrus keys its mailbox database and MUPDATE by
// (internal names) and back, following Cyrus 3.x's imap/mboxname.c rule
// for rule, so that Roost's frontend routes every name to the mailbox a
// Cyrus frontend would have chosen.
//
// A [Namespace] holds the backends' imapd.conf settings that shape names
// (altnamespace, unixhierarchysep, virtdomains, the prefixes, ...). A
// [View] is that namespace as one authenticated user sees it, because in
// Cyrus the same external name means different mailboxes to different
// users: "INBOX" is jane's "user.jane" and john's "user.john".
//
// Internal names always use '.' between levels. A '.' inside a level,
// possible only with unixhierarchysep, is stored as '^'. A user's INBOX is
// "user.<localpart>", and a mailbox in a virtual domain other than
// defaultdomain is prefixed with "<domain>!". Names are modified UTF-7 on
// the wire and stay so internally, so the package treats their bytes as
// opaque; it does not implement the UTF-8 conversion Cyrus 3.10 adds for
// clients that ENABLE UTF8=ACCEPT.
//
// The mapping is not a bijection, because Cyrus's is not: several external
// spellings reach one mailbox ("inbox", "INBOX", "Other Users/jane" for
// jane herself), empty levels are dropped, and a few internal names have
// no external spelling at all. The tests record each such case with the
// Cyrus function it comes from, and testdata/cyrus-3.6.1.json holds what a
// real Cyrus 3.6.1 answered for the same settings.
//
// What needs the mailbox database stays with the caller: ACLs,
// intermediate mailboxes, special-use names ("\Sent"), whether an INBOX
// exists, and the name policy a backend applies on CREATE
// (mboxname_policycheck).
package namespace
