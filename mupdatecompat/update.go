package mupdatecompat

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/roost-mail/roost/mupdatecompat/internal/wire"
	"github.com/roost-mail/roost/raftfsm"
)

// maxUpdateHosts is Cyrus's limit on PARTIAL-UPDATE hosts.
const maxUpdateHosts = 30

// handleUpdate runs UPDATE [host...] (RFC 3656 §4.9, PARTIAL-UPDATE):
// a dump of a frozen view, `OK`, then every later change. The watcher is
// registered at the view's revision before the dump is written, so no
// change falls between dump and stream. It returns an error only for bad
// arguments; otherwise it runs until the connection ends.
//
// Cyrus slaves delete whatever a dump misses, so a dump is never cut
// short by NO, BAD or BYE: on trouble the connection is closed, and the
// slave retries with a new dump.
func (c *conn) handleUpdate(cmd *wire.Command) *Error {
	if len(cmd.Args) > maxUpdateHosts {
		return errExtraArgs
	}
	hosts := map[string]bool{}
	for _, h := range cmd.Args {
		if h == "" {
			return bad("Badly formed arguments")
		}
		hosts[h] = true
	}
	if err := c.catchUp(); err != nil {
		return err
	}
	fsm := c.s.cfg.FSM
	v := fsm.View()
	w := fsm.WatchView(v, "")
	defer w.Close()
	st := &stream{c: c, tag: cmd.Tag, hosts: hosts, w: w}
	v.List(raftfsm.ListOptions{}, func(m raftfsm.Mailbox) bool {
		if st.wanted(m.Location) {
			c.writeMailbox(cmd.Tag, m)
		}
		return c.w.Err() == nil
	})
	if c.w.Err() != nil {
		return nil
	}
	c.ok(cmd.Tag, "streaming starts")
	if c.bw.Flush() != nil {
		return nil
	}
	c.logger.Info("update stream started", "user", c.id.Name, "index", v.Revision(), "mailboxes", v.Len())
	c.s.cfg.Metrics.Streams(1)
	defer c.s.cfg.Metrics.Streams(-1)
	st.run()
	return nil
}

// stream is an UPDATE in progress. Its connection's goroutine owns it;
// a reader goroutine only hands over decoded commands.
type stream struct {
	c     *conn
	tag   string
	hosts map[string]bool // empty: every entry
	w     *raftfsm.Watcher
}

type readResult struct {
	cmd *wire.Command
	err error
}

// wanted applies the PARTIAL-UPDATE filter: whole server names.
func (st *stream) wanted(loc string) bool {
	if loc == "" {
		// No location: the side of a change before a creation.
		return false
	}
	if len(st.hosts) == 0 {
		return true
	}
	server, _, _ := strings.Cut(loc, "!")
	return st.hosts[server]
}

func (st *stream) run() {
	c := st.c
	cmds := make(chan readResult)
	done := make(chan struct{})
	var reader sync.WaitGroup
	defer func() {
		close(done)
		c.nc.Close() // unblocks the reader
		reader.Wait()
	}()
	reader.Go(func() {
		for {
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
			cmd, err := c.dec.ReadCommand()
			select {
			case cmds <- readResult{cmd, err}:
			case <-done:
				return
			}
			var se *wire.SyntaxError
			if err != nil && !errors.As(err, &se) {
				return
			}
		}
	})
	for {
		if err := st.flush(); err != nil {
			c.logger.Info("update stream ended", "user", c.id.Name, "err", err)
			return
		}
		select {
		case <-st.w.Ready():
		case r := <-cmds:
			if !st.command(r) {
				return
			}
		}
	}
}

// flush writes every change the watcher has, and sends them.
func (st *stream) flush() error {
	wrote := false
	var last uint64 // revision of the last change written
	for {
		evs, _, err := st.w.Pending()
		if err != nil {
			return err // fell behind the history, or a restore
		}
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			st.writeEvent(ev)
		}
		last = evs[len(evs)-1].Revision
		wrote = true
	}
	if !wrote {
		return nil
	}
	if err := st.c.bw.Flush(); err != nil { // the buffered writer keeps a failed write's error
		return err
	}
	if rev := st.c.s.cfg.FSM.Revision(); rev > last {
		st.c.s.cfg.Metrics.StreamLag(rev - last)
	} else {
		st.c.s.cfg.Metrics.StreamLag(0)
	}
	return nil
}

func (st *stream) writeEvent(ev raftfsm.Event) {
	// As Cyrus's log_update: a change is sent if the entry's server
	// before it or after it is one of the stream's.
	if !st.wanted(ev.Mailbox.Location) && !st.wanted(ev.PrevLocation) {
		return
	}
	if ev.Type == raftfsm.EventDelete {
		st.c.w.Line(st.tag, "DELETE", ev.Mailbox.Name)
		return
	}
	st.c.writeMailbox(st.tag, ev.Mailbox)
}

// command handles a command sent during the stream; false ends it.
func (st *stream) command(r readResult) bool {
	c := st.c
	var se *wire.SyntaxError
	switch {
	case errors.As(r.err, &se):
		c.reply(se.Tag, bad(se.Msg))
	case r.err != nil:
		return false
	case r.cmd.Name == "NOOP":
		// RFC 3656 §4.8: the OK must follow every change pending when
		// the NOOP arrived; a follower first catches up with the leader.
		ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.WriteTimeout)
		err := c.s.cfg.Cluster.ReadIndex(ctx)
		cancel()
		if err != nil {
			// Not NO: a Cyrus slave reconnects on anything but OK,
			// and a reconnect is a full dump. Try again at its next NOOP.
			c.logger.Warn("NOOP barrier failed", "err", err)
		}
		if err := st.flush(); err != nil {
			return false
		}
		c.ok(r.cmd.Tag, "Noop done")
	case r.cmd.Name == "LOGOUT":
		c.ok(r.cmd.Tag, "bye-bye")
		c.bw.Flush()
		return false
	default:
		c.reply(r.cmd.Tag, errStreaming)
	}
	return c.bw.Flush() == nil
}
