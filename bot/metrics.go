package bot

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/response"
)

// metrics are the bot's Prometheus series. No label carries a chat id, a
// name or any text: only kinds of update, outcomes and error codes.
type metrics struct {
	updatesTotal *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	apiErrors    *prometheus.CounterVec
	owned        prometheus.Gauge
	broadcasts   *prometheus.CounterVec
	budgetAlerts *prometheus.CounterVec
	refused      *prometheus.CounterVec
	mode         prometheus.Gauge
	overdueCases *prometheus.GaugeVec
}

// newMetrics registers the bot's series with reg; a nil reg gives metrics
// that record nothing.
func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		updatesTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_updates_total", Help: "Updates from Telegram by kind and outcome.",
		}, []string{"type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_update_seconds", Help: "Time to handle one update, from inbox to the last reply sent.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"type"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_telegram_errors_total", Help: "Errors from the Telegram Bot API by code.",
		}, []string{"code"}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_inbox_partitions_held", Help: "Inbox partitions this process holds.",
		}),
		broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_broadcast_messages_total",
			Help: "Broadcast sends by outcome (sent, failed, blocked, retry-after, retry); rate() of outcome=\"sent\" is the broadcast rate.",
		}, []string{"outcome"}),
		budgetAlerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_budget_alerts_total",
			Help: "Thresholds crossed by the budget all chats share (evidence-hour, evidence-day, reports-hour, reports-day) or by Redis memory, by level in percent; each crossing counted once, by the process that alerted.",
		}, []string{"budget", "level"}),
		mode: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_telegram_mode_confirmed",
			Help: "1 once Telegram reports the bot's mode (its webhook, or none while polling); 0 until then: no update can arrive.",
		}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_staff_replies_refused_total",
		Help: "Staff replies not delivered because their signature did not hold, by reason (intake.Refused… kinds).",
	}, []string{"reason"})
	m.overdueCases = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigil_cases_overdue",
		Help: "Open cases past a response target, by urgency (urgent, other) and deadline (claim, reply); refreshed by the alerts loop.",
	}, []string{"urgency", "deadline"})
	reg.MustRegister(m.updatesTotal, m.latency, m.apiErrors, m.owned, m.broadcasts, m.budgetAlerts, m.refused, m.mode, m.overdueCases)
	return m
}

func (m *metrics) updates(kind, outcome string) {
	if m != nil {
		m.updatesTotal.WithLabelValues(kind, outcome).Inc()
	}
}

func (m *metrics) observe(kind string, d time.Duration) {
	if m != nil {
		m.latency.WithLabelValues(kind).Observe(d.Seconds())
	}
}

func (m *metrics) apiError(code int) {
	if m != nil {
		m.apiErrors.WithLabelValues(strconv.Itoa(code)).Inc()
	}
}

func (m *metrics) partitions(n int) {
	if m != nil {
		m.owned.Set(float64(n))
	}
}

func (m *metrics) broadcast(outcome string) {
	if m != nil {
		m.broadcasts.WithLabelValues(outcome).Inc()
	}
}

func (m *metrics) budgetAlert(name string, level int) {
	if m != nil {
		m.budgetAlerts.WithLabelValues(name, strconv.Itoa(level)).Inc()
	}
}

func (m *metrics) refusedReply(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) modeConfirmed(ok bool) {
	if m != nil {
		v := 0.0
		if ok {
			v = 1
		}
		m.mode.Set(v)
	}
}

func (m *metrics) overdue(c response.Counts) {
	if m != nil {
		for k, n := range c {
			m.overdueCases.WithLabelValues(k[0], k[1]).Set(float64(n))
		}
	}
}
