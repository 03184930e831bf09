package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/store"
)

func runBot(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("bot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(getenv, true)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	trust, err := loadTrust(getenv)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, log, true, trust)
	if err != nil {
		return err
	}
	if trust == nil {
		log.Warn("no staff keyring (VIGIL_STAFF_KEYRING): no broadcast will be sent and no guidance page shown")
	}
	defer a.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bc := bot.Config{Token: cfg.Token, APIURL: cfg.APIURL, Service: a.service, Replies: a.service, Text: a.text, Log: log,
		Alerts: &bot.AlertConfig{Source: a.service, Chat: cfg.AlertChat, Interval: cfg.AlertInterval, Lease: cfg.ClaimLease},
		Inbox:  a.service, Partitions: cfg.Partitions, SweepEachRead: cfg.WaitReplicas > 0, ShutdownTimeout: cfg.ShutdownTimeout, Metrics: reg, LeaseTTL: cfg.LeaseTTL}
	if err := publishPolicy(ctx, a); err != nil {
		return err
	}
	bc.Coordinators, bc.Paid = cfg.Coordinators, cfg.BroadcastPaid
	bc.Broadcast = &broadcast.DeliveryConfig{Store: a.store, Keys: a.keys, Open: a.open, Coordinators: coordinatorIDs(cfg),
		Rate: cfg.BroadcastRate, Text: a.text, Log: log, Trust: trust, Approvals: cfg.BroadcastApproval}
	if cfg.WebhookURL != "" {
		bc.Webhook = &bot.WebhookConfig{URL: cfg.WebhookURL, Listen: cfg.WebhookListen, Secret: cfg.WebhookSecret}
	}
	b, err := bot.New(ctx, bc)
	if err != nil {
		return err
	}
	a.fetcher = b.Fetch
	registerQueueGauges(reg, a, cfg.Partitions)
	if cfg.MetricsListen != "" {
		if err := serveOps(ctx, cfg.MetricsListen, reg, a, log); err != nil {
			return err
		}
	}
	return b.Run(ctx)
}

// publishPolicy writes the broadcast policy to Redis, where staff tools
// read it: every bot process of a deployment must share these settings.
func publishPolicy(ctx context.Context, a *app) error {
	var names []string
	for _, name := range a.cfg.Coordinators {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(names) > 0 && len(names) < a.cfg.BroadcastApproval {
		a.log.Warn("fewer coordinators than the approvals a broadcast needs: nothing can be approved",
			"coordinators", len(names), "approvals", a.cfg.BroadcastApproval)
	}
	return a.store.SetPolicy(ctx, store.Policy{Approvals: a.cfg.BroadcastApproval, Coordinators: names, DefaultLang: a.cfg.DefaultLanguage,
		Rate: a.cfg.BroadcastRate})
}

func coordinatorIDs(cfg *Config) map[string]int64 {
	m := make(map[string]int64, len(cfg.Coordinators))
	for id, name := range cfg.Coordinators {
		m[name] = id
	}
	return m
}

// registerQueueGauges reports, at each scrape, the depth of the inbox and
// of the staff queue. They carry counts only.
func registerQueueGauges(reg *prometheus.Registry, a *app, partitions int) {
	depth := func() (int64, time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, age, _ := a.service.InboxDepth(ctx, partitions)
		return n, age
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_inbox_depth", Help: "Updates stored and not yet handled."},
			func() float64 { n, _ := depth(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_inbox_oldest_seconds", Help: "Age of the oldest update not yet handled."},
			func() float64 { _, age := depth(); return age.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vigil_reports_queued", Help: "Reports in the staff queue (all time, until purged)."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				n, _ := a.store.QueueLength(ctx)
				return float64(n)
			}),
	)
}

// serveOps serves /metrics, /healthz (the process is up) and /readyz (Redis
// answers; Telegram answered at start) on their own listener, which should
// not be exposed to the internet.
func serveOps(ctx context.Context, addr string, reg *prometheus.Registry, a *app, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.rdb.Ping(pctx).Err(); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return settingError("VIGIL_METRICS_LISTEN", "%v", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("operations endpoints", "listen", ln.Addr().String())
	return nil
}
