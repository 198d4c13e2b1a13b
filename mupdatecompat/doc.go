// Package mupdatecompat will speak MUPDATE (RFC 3656) the way Cyrus 3.x
// does on the wire, so unchanged Cyrus backends and frontends can use a
// Roost cluster in place of their mupdate master. It is a thin adapter:
// parse, authorize, then call the node's store and forwarder; no mailbox
// logic lives here.
package mupdatecompat
