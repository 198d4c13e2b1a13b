package node

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/roost-mail/roost/mupdatecompat"
	"github.com/roost-mail/roost/raftfsm"
	"github.com/roost-mail/roost/raftfsm/buildinfo"
)

// newBuildInfo is roost_build_info: 1, with the build in its labels, so
// that dashboards can tell which nodes run which build during an upgrade.
func newBuildInfo() prometheus.Collector {
	bi := buildinfo.Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "roost_build_info",
		Help:        "The running build: always 1, with its version, commit and Go toolchain as labels.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.Go},
	})
	g.Set(1)
	return g
}

// storeMetrics records the write path (raftfsm.Metrics).
type storeMetrics struct {
	applyDuration *prometheus.HistogramVec
	entryOps      prometheus.Histogram
}

var _ raftfsm.Metrics = (*storeMetrics)(nil)

func newStoreMetrics(reg prometheus.Registerer) *storeMetrics {
	m := &storeMetrics{
		applyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roost_apply_duration_seconds",
			Help:    "Time from proposing writes on the leader until they are applied, by result.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"result"}),
		entryOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "roost_log_entry_operations",
			Help:    "Mailbox operations carried by each proposed log entry (group commit).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
	}
	reg.MustRegister(m.applyDuration, m.entryOps)
	return m
}

func (m *storeMetrics) ObserveApply(ops int, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.applyDuration.WithLabelValues(result).Observe(d.Seconds())
}

func (m *storeMetrics) ObserveEntry(ops int) { m.entryOps.Observe(float64(ops)) }

// stateCollector reads raft and FSM state at scrape time.
type stateCollector struct {
	store *raftfsm.Store

	state, term, applied, commit, last, contact, leader *prometheus.Desc
	members, mailboxes, revision, watchers              *prometheus.Desc
}

func newStateCollector(store *raftfsm.Store) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		store:     store,
		state:     d("roost_raft_state", "1 for this node's current Raft state.", "state"),
		term:      d("roost_raft_term", "Current Raft term."),
		applied:   d("roost_raft_applied_index", "Last Raft index applied."),
		commit:    d("roost_raft_commit_index", "Last Raft index known committed."),
		last:      d("roost_raft_last_log_index", "Last Raft index in the log."),
		contact:   d("roost_raft_last_contact_seconds", "Seconds since the last contact with the leader (0 on the leader)."),
		leader:    d("roost_raft_leader", "1 if this node is the leader."),
		members:   d("roost_raft_members", "Members of the Raft configuration.", "suffrage"),
		mailboxes: d("roost_mailboxes", "Mailbox entries in the local database."),
		revision:  d("roost_revision", "Revision of the local database."),
		watchers:  d("roost_watchers", "Open change watchers on this node."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := c.store.Status()
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		g(c.state, b2f(st.State == s), s.String())
	}
	g(c.term, float64(st.Term))
	g(c.applied, float64(st.AppliedIndex))
	g(c.commit, float64(st.CommitIndex))
	g(c.last, float64(st.LastLogIndex))
	g(c.contact, st.LastContact.Seconds())
	g(c.leader, b2f(st.State == raft.Leader))
	voters, nonvoters := 0, 0
	for _, m := range st.Servers {
		if m.Voter {
			voters++
		} else {
			nonvoters++
		}
	}
	g(c.members, float64(voters), "voter")
	g(c.members, float64(nonvoters), "nonvoter")
	g(c.mailboxes, float64(st.Mailboxes))
	g(c.revision, float64(st.Revision))
	g(c.watchers, float64(c.store.FSM().Watchers()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// mupdateMetrics records the MUPDATE server (mupdatecompat.Metrics).
type mupdateMetrics struct {
	conns    *prometheus.GaugeVec
	refused  prometheus.Counter
	logins   *prometheus.CounterVec
	commands *prometheus.CounterVec
	streams  prometheus.Gauge
	lag      prometheus.Histogram
}

var _ mupdatecompat.Metrics = (*mupdateMetrics)(nil)

func newMupdateMetrics(reg prometheus.Registerer) *mupdateMetrics {
	m := &mupdateMetrics{
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "roost_mupdate_connections",
			Help: "Open MUPDATE connections, by role (none: not authenticated yet).",
		}, []string{"role"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "roost_mupdate_connections_refused_total",
			Help: "MUPDATE connections turned away at --mupdate-max-conns.",
		}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roost_mupdate_logins_total",
			Help: "MUPDATE AUTHENTICATE commands, by result (ok, failed).",
		}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "roost_mupdate_commands_total",
			Help: "MUPDATE commands answered, by command, outcome (ok, no, bad) and the reason of a refusal.",
		}, []string{"command", "outcome", "reason"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "roost_mupdate_update_streams",
			Help: "MUPDATE UPDATE streams being served (Cyrus frontends' mupdate slaves).",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "roost_mupdate_stream_lag_revisions",
			Help:    "Revisions of the database an UPDATE stream was still behind after sending what it had.",
			Buckets: []float64{0, 1, 4, 16, 64, 256, 1024, 4096},
		}),
	}
	reg.MustRegister(m.conns, m.refused, m.logins, m.commands, m.streams, m.lag)
	return m
}

func (m *mupdateMetrics) Connections(role string, delta int) {
	m.conns.WithLabelValues(role).Add(float64(delta))
}
func (m *mupdateMetrics) ConnectionRefused() { m.refused.Inc() }
func (m *mupdateMetrics) Login(ok bool) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.logins.WithLabelValues(result).Inc()
}
func (m *mupdateMetrics) Command(name, outcome, reason string) {
	m.commands.WithLabelValues(name, outcome, reason).Inc()
}
func (m *mupdateMetrics) Streams(delta int)  { m.streams.Add(float64(delta)) }
func (m *mupdateMetrics) StreamLag(r uint64) { m.lag.Observe(float64(r)) }
