package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

func runBot(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	// SIGHUP reloads the staff keyring. Registered first, so that one
	// sent while the bot starts never terminates it (its default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
	a, err := openApp(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer a.Close()
	go reloadOnHangup(ctx, hup, a.trust, log)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bc := bot.Config{Token: cfg.Token, APIURL: cfg.APIURL, Service: a.service, Replies: a.service, Text: a.text, Log: log,
		Alerts: &bot.AlertConfig{Source: a.service, Budget: a.budget, Chat: cfg.AlertChat, Interval: cfg.AlertInterval, Lease: cfg.ClaimLease,
			Escalations: a.store, Targets: cfg.Response},
		Checkins: a.service, CheckinEvery: cfg.CheckinEvery,
		Inbox: a.service, Partitions: cfg.Partitions, SweepEachRead: cfg.WaitReplicas > 0, ShutdownTimeout: cfg.ShutdownTimeout, Metrics: reg, LeaseTTL: cfg.LeaseTTL}
	if err := publishPolicy(ctx, a); err != nil {
		return err
	}
	bc.Coordinators, bc.Paid = cfg.Coordinators, cfg.BroadcastPaid
	bc.Broadcast = &broadcast.DeliveryConfig{Store: a.store, Keys: a.keys, Open: a.open, Coordinators: coordinatorIDs(cfg),
		Rate: cfg.BroadcastRate, Text: a.text, Log: log, Trust: a.trust, Approvals: cfg.BroadcastApproval}
	if cfg.WebhookURL != "" {
		bc.Webhook = &bot.WebhookConfig{URL: cfg.WebhookURL, Listen: cfg.WebhookListen, Secret: cfg.WebhookSecret}
	}
	b, err := bot.New(ctx, bc)
	if err != nil {
		return err
	}
	a.fetcher = b.Fetch
	registerQueueGauges(reg, a, cfg.Partitions)
	reg.MustRegister(budgetCollector{a.budget})
	checkMemory(ctx, a)
	if cfg.MetricsListen != "" {
		if err := serveOps(ctx, cfg.MetricsListen, reg, a, b.Ready, log); err != nil {
			return err
		}
	}
	return b.Run(ctx)
}

// reloadOnHangup reads the staff keyring again on each signal from hup
// (SIGHUP) until ctx ends; a keyring that does not load leaves the one in
// force.
func reloadOnHangup(ctx context.Context, hup <-chan os.Signal, trust *sign.Trust, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			k, err := trust.Reload()
			if err != nil {
				log.Error("staff keyring not reloaded; keeping the keyring in force", "err", err)
				continue
			}
			staff, coordinators := k.Counts()
			log.Info("staff keyring reloaded", "staff", staff, "coordinators", coordinators)
		}
	}
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

// serveOps serves /metrics, /healthz (the process is up) and /readyz (see
// readyz) on their own listener, which should not be exposed to the
// internet.
func serveOps(ctx context.Context, addr string, reg *prometheus.Registry, a *app, telegram func() error, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("/readyz", readyz(func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }, telegram))
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

// checkMemory warns when Redis has no maxmemory, or its memory cannot be
// read: then nothing but the budgets keeps Redis from filling up.
func checkMemory(ctx context.Context, a *app) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, err := a.store.Memory(ctx)
	switch {
	case err != nil:
		a.log.Warn("cannot read Redis memory (INFO); files and reports are refused by the budgets alone. "+
			"Under deploy/redis/users.acl the bot needs +info", "err", err)
	case m.Max == 0:
		a.log.Warn("Redis has no maxmemory: it grows until the host runs out, and noeviction never applies. " +
			"Set maxmemory (docker-compose.yml ships 4gb) so that files, then reports, are refused before Redis is full")
	default:
		a.log.Info("Redis memory", "used_percent", int(m.Percent()), "maxmemory_bytes", m.Max)
	}
}

// budgetCollector reports, at each scrape, the budget all chats share and
// Redis memory, and what this process refused. Counts only.
type budgetCollector struct{ b *budget.Budget }

var (
	budgetUsedDesc = prometheus.NewDesc("vigil_budget_used_ratio",
		"Part of the budget all chats share that is spent in the current window (1 = spent; files or reports are refused past it).",
		[]string{"budget"}, nil)
	memoryUsedDesc = prometheus.NewDesc("vigil_redis_memory_used_ratio",
		"Redis used_memory over maxmemory (0 without maxmemory). New files are refused from 0.90, new reports from 0.98.", nil, nil)
	budgetRefusedDesc = prometheus.NewDesc("vigil_budget_refused_total",
		"Files and reports this process refused because the shared budget was spent or Redis memory nearly full.",
		[]string{"what"}, nil)
)

func (budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetUsedDesc
	ch <- memoryUsedDesc
	ch <- budgetRefusedDesc
}

func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	files, reports := c.b.Refused()
	ch <- prometheus.MustNewConstMetric(budgetRefusedDesc, prometheus.CounterValue, float64(files), "file")
	ch <- prometheus.MustNewConstMetric(budgetRefusedDesc, prometheus.CounterValue, float64(reports), "report")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	usage, err := c.b.Usage(ctx)
	if err != nil {
		return // Redis unreachable: /readyz says so
	}
	for _, u := range usage {
		if u.Name == budget.Memory {
			ch <- prometheus.MustNewConstMetric(memoryUsedDesc, prometheus.GaugeValue, u.Percent()/100)
			continue
		}
		ch <- prometheus.MustNewConstMetric(budgetUsedDesc, prometheus.GaugeValue, u.Percent()/100, u.Name)
	}
}

// readyz answers 200 when Redis answers ping and Telegram reports the bot's
// mode (telegram: bot.Bot.Ready), 503 saying which is missing otherwise.
func readyz(ping func(context.Context) error, telegram func() error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ping(pctx); err != nil {
			http.Error(w, "redis unreachable", http.StatusServiceUnavailable)
			return
		}
		if err := telegram(); err != nil {
			http.Error(w, "telegram: the bot's webhook (or polling) is not confirmed yet: no update can arrive", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
}
