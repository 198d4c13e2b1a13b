package pop3proxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's Prometheus series; nil when not asked for.
type metrics struct {
	conns    prometheus.Gauge
	sessions *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "roost_frontend_pop3_connections",
			Help: "POP3 client connections open now, before and after login."}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "roost_frontend_pop3_sessions_total",
			Help: "POP3 logins, by result: ok (piped to the INBOX's backend), failed (wrong credentials, or no INBOX), unavailable (the backend unreachable, or the cache not synced), refused (too many connections from one address)."},
			[]string{"result"}),
	}
	reg.MustRegister(m.conns, m.sessions)
	return m
}

// The helpers below do nothing without metrics.

func (m *metrics) connOpened() {
	if m != nil {
		m.conns.Inc()
	}
}

func (m *metrics) connClosed() {
	if m != nil {
		m.conns.Dec()
	}
}

func (m *metrics) session(result string) {
	if m != nil {
		m.sessions.WithLabelValues(result).Inc()
	}
}
