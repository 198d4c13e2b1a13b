package mupdatecompat

// Metrics receives what a Server does, for monitoring (Config.Metrics).
// Implementations must be safe for concurrent use.
type Metrics interface {
	// Connections adds delta to the connections of role: "none" before
	// a client has authenticated, then its role.
	Connections(role string, delta int)
	// ConnectionRefused counts a connection turned away at MaxConns.
	ConnectionRefused()
	// Login counts an AUTHENTICATE that succeeded or failed.
	Login(ok bool)
	// Command counts a command by name and outcome ("ok", "no" or
	// "bad"), with the reason of a refusal ("" for ok).
	Command(name, outcome, reason string)
	// Streams adds delta to the UPDATE streams being served.
	Streams(delta int)
	// StreamLag observes, as a stream has sent what it had, how many
	// revisions of the database it was still behind.
	StreamLag(revisions uint64)
}

// nopMetrics discards.
type nopMetrics struct{}

func (nopMetrics) Connections(string, int)        {}
func (nopMetrics) ConnectionRefused()             {}
func (nopMetrics) Login(bool)                     {}
func (nopMetrics) Command(string, string, string) {}
func (nopMetrics) Streams(int)                    {}
func (nopMetrics) StreamLag(uint64)               {}

// roleName is a connection's role as Metrics hears it.
func (c *conn) roleName() string {
	if c.id.Role == 0 {
		return "none"
	}
	return c.id.Role.String()
}
