package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/text/language"

	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/store"
)

// Config is every setting, parsed and checked once at start-up and passed
// down; nothing reads the environment after this.
type Config struct {
	Token          string // secret: never printed
	APIURL         string
	RedisURL       string
	Redis          store.Target // REDIS_ADDRS / REDIS_MASTER_NAME, or REDIS_URL
	RecipientsFile string
	SecretFile     string
	ConfigFile     string
	LogLevel       slog.Level
	LogFormat      string // json (the bot's default) or text

	// Production (issue: webhooks, replicas, metrics).
	WebhookURL      string
	WebhookListen   string
	WebhookSecret   string // secret: never printed
	MetricsListen   string
	Partitions      int
	LeaseTTL        time.Duration
	ShutdownTimeout time.Duration
	WaitReplicas    int // VIGIL_REDIS_WAIT_REPLICAS
	// Budget is shared by all chats: VIGIL_EVIDENCE_BYTES_PER_HOUR and
	// _PER_DAY, VIGIL_REPORTS_PER_HOUR and _PER_DAY.
	Budget budget.Limits

	// From the optional TOML file (VIGIL_CONFIG).
	DefaultLanguage string
	Countries       []string
	Emergency       map[string]string // by country code; "" for everywhere
	DraftTTL        time.Duration
	Limits          intake.Limits
	Files           flows.FileLimits
	AlertChat       int64            // staff chat for urgent alerts; 0: none
	AlertInterval   time.Duration    // repeat until claimed
	ClaimLease      time.Duration    // VIGIL_CLAIM_LEASE
	Response        response.Targets // [response]: response-time targets

	// Signed staff replies (issue 15): the staff keyring on the bot's own
	// disk (VIGIL_STAFF_KEYRING), and how old a reply's signature may be
	// when it is delivered (VIGIL_REPLY_MAX_AGE).
	StaffKeyring string
	ReplyMaxAge  time.Duration

	// Broadcasts (issue: coordinators broadcast safety guidance).
	Coordinators      map[int64]string // Telegram user id → name
	BroadcastRate     float64          // messages per second, overall
	BroadcastPaid     bool             // allow_paid_broadcast
	BroadcastApproval int              // coordinators who must agree, the creator included

	// Safety check-ins (VIGIL_CONFIG [checkin]); Checkin.MAC is set by
	// the app, from the bot's key.
	Checkin      flows.CheckinConfig
	CheckinTimes intake.CheckinTimes
	CheckinEvery time.Duration
}

// fileConfig is the TOML file's shape.
type fileConfig struct {
	DefaultLanguage string            `toml:"default_language"`
	Countries       []string          `toml:"countries"`
	DraftTTL        string            `toml:"draft_ttl"`
	Emergency       map[string]string `toml:"emergency"`
	Limits          struct {
		MessagesPerMinute int `toml:"messages_per_minute"`
		ReportsPerHour    int `toml:"reports_per_hour"`
		ReportsPerDay     int `toml:"reports_per_day"`
	} `toml:"limits"`
	Alerts struct {
		ChatID   int64  `toml:"chat_id"`
		Interval string `toml:"interval"`
	} `toml:"alerts"`
	Files struct {
		MaxFiles   int `toml:"max_files"`
		MaxFileMB  int `toml:"max_file_mb"`
		MaxTotalMB int `toml:"max_total_mb"`
	} `toml:"files"`
	Broadcast struct {
		Rate      float64 `toml:"rate"`
		Paid      bool    `toml:"paid"`
		Approvals int     `toml:"approvals"`
	} `toml:"broadcast"`
	Coordinators map[string]int64 `toml:"coordinators"`
	Response     responseSection  `toml:"response"`
	Checkin      struct {
		Intervals     []string `toml:"intervals"`
		RemindBefore  string   `toml:"remind_before"`
		Grace         string   `toml:"grace"`
		DefaultOffset string   `toml:"default_offset"`
		Every         string   `toml:"every"`
		Lease         string   `toml:"lease"`
	} `toml:"checkin"`
}

// responseSection is the file's [response] section: the response-time
// targets (docs/response-times.md), as durations such as "1h" or "120h".
type responseSection struct {
	UrgentClaim string `toml:"urgent_claim"`
	UrgentReply string `toml:"urgent_reply"`
	Claim       string `toml:"claim"`
	Reply       string `toml:"reply"`
}

func (r responseSection) targets() (response.Targets, error) {
	t, err := response.Parse(r.UrgentClaim, r.UrgentReply, r.Claim, r.Reply)
	if err != nil {
		return response.Targets{}, settingError("VIGIL_CONFIG", "%v", err)
	}
	return t, nil
}

// responseTargets reads the [response] section of VIGIL_CONFIG for the
// staff tools, which need nothing else of the bot's file (its other
// settings are not checked here); without VIGIL_CONFIG the targets are
// response.DefaultTargets.
func responseTargets(getenv func(string) string) (response.Targets, error) {
	file := getenv("VIGIL_CONFIG")
	if file == "" {
		return response.DefaultTargets, nil
	}
	var f struct {
		Response responseSection `toml:"response"`
	}
	if _, err := toml.DecodeFile(file, &f); err != nil {
		return response.Targets{}, settingError("VIGIL_CONFIG", "%v", err)
	}
	return f.Response.targets()
}

// settingError names the setting at fault, so that start-up fails with one
// clear line.
func settingError(name, format string, args ...any) error {
	return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
}

// loadConfig reads the environment and the optional TOML file. needToken is
// true for the bot, which cannot run without one.
func loadConfig(getenv func(string) string, needToken bool) (*Config, error) {
	c := &Config{
		APIURL:            or(getenv("TELEGRAM_API_URL"), "https://api.telegram.org"),
		RedisURL:          or(getenv("REDIS_URL"), "redis://127.0.0.1:6379/0"),
		RecipientsFile:    or(getenv("VIGIL_RECIPIENTS_FILE"), "var/recipients.txt"),
		SecretFile:        or(getenv("VIGIL_SECRET_FILE"), "var/bot.secret"),
		ConfigFile:        getenv("VIGIL_CONFIG"),
		DefaultLanguage:   "en",
		DraftTTL:          24 * time.Hour,
		Emergency:         map[string]string{},
		Limits:            intake.DefaultLimits,
		Budget:            budget.DefaultLimits,
		Files:             flows.DefaultFileLimits,
		AlertInterval:     15 * time.Minute,
		ClaimLease:        24 * time.Hour,
		Response:          response.DefaultTargets,
		Coordinators:      map[int64]string{},
		BroadcastRate:     25,
		BroadcastApproval: 2,
	}
	if v := getenv("VIGIL_CLAIM_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, settingError("VIGIL_CLAIM_LEASE", "want a duration such as 24h")
		}
		c.ClaimLease = d
	}
	c.StaffKeyring = getenv("VIGIL_STAFF_KEYRING")
	c.ReplyMaxAge = intake.DefaultReplyMaxAge
	if v := getenv("VIGIL_REPLY_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			return nil, settingError("VIGIL_REPLY_MAX_AGE", "want a duration of at least 1m, such as 168h")
		}
		c.ReplyMaxAge = d
	}
	if err := c.LogLevel.UnmarshalText([]byte(or(getenv("VIGIL_LOG_LEVEL"), "info"))); err != nil {
		return nil, settingError("VIGIL_LOG_LEVEL", "want debug, info, warn or error")
	}
	c.LogFormat = or(getenv("VIGIL_LOG_FORMAT"), "json")
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return nil, settingError("VIGIL_LOG_FORMAT", "want json or text")
	}
	c.MetricsListen = or(getenv("VIGIL_METRICS_LISTEN"), "127.0.0.1:9464")
	if c.MetricsListen == "off" {
		c.MetricsListen = ""
	}
	c.Partitions = 32
	if v := getenv("VIGIL_PARTITIONS"); v != "" {
		if _, err := fmt.Sscan(v, &c.Partitions); err != nil || c.Partitions < 1 || c.Partitions > 1024 {
			return nil, settingError("VIGIL_PARTITIONS", "want a number from 1 to 1024, the same for every bot process")
		}
	}
	c.LeaseTTL = 15 * time.Second
	if v := getenv("VIGIL_LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return nil, settingError("VIGIL_LEASE_TTL", "want a duration of at least 1s, such as 15s")
		}
		c.LeaseTTL = d
	}
	c.ShutdownTimeout = 20 * time.Second
	if v := getenv("VIGIL_SHUTDOWN_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, settingError("VIGIL_SHUTDOWN_TIMEOUT", "want a duration such as 20s")
		}
		c.ShutdownTimeout = d
	}
	c.WebhookURL, c.WebhookListen = getenv("VIGIL_WEBHOOK_URL"), getenv("VIGIL_WEBHOOK_LISTEN")
	secret, err := secretSetting(getenv, "VIGIL_WEBHOOK_SECRET")
	if err != nil {
		return nil, err
	}
	c.WebhookSecret = secret
	if c.WebhookURL != "" || c.WebhookListen != "" || c.WebhookSecret != "" {
		switch {
		case !strings.HasPrefix(c.WebhookURL, "https://") && !strings.HasPrefix(c.WebhookURL, "http://"):
			return nil, settingError("VIGIL_WEBHOOK_URL", "webhook mode needs the public https:// URL Telegram posts to")
		case c.WebhookListen == "":
			return nil, settingError("VIGIL_WEBHOOK_LISTEN", "webhook mode needs the local address to listen on, such as :8443")
		case len(c.WebhookSecret) < 16 || strings.Trim(c.WebhookSecret, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "":
			return nil, settingError("VIGIL_WEBHOOK_SECRET", "webhook mode needs a secret of 16 to 256 characters A-Z, a-z, 0-9, _ and - (value not shown)")
		}
	}
	redisURL, err := secretSetting(getenv, "REDIS_URL")
	if err != nil {
		return nil, err
	}
	if redisURL != "" {
		c.RedisURL = redisURL
	}
	target, err := redisTarget(getenv, c.RedisURL)
	if err != nil {
		return nil, err
	}
	c.Redis = target
	if v := getenv("VIGIL_REDIS_WAIT_REPLICAS"); v != "" {
		if _, err := fmt.Sscan(v, &c.WaitReplicas); err != nil || c.WaitReplicas < 0 {
			return nil, settingError("VIGIL_REDIS_WAIT_REPLICAS", "want the number of replicas that must have a report before its receipt (0: none)")
		}
	}
	token, err := secretSetting(getenv, "TELEGRAM_BOT_TOKEN")
	if err != nil {
		return nil, err
	}
	c.Token = token
	if needToken && c.Token == "" {
		return nil, settingError("TELEGRAM_BOT_TOKEN", "not set: give the token from @BotFather, or its file in TELEGRAM_BOT_TOKEN_FILE")
	}
	if c.Token != "" && !validToken(c.Token) {
		return nil, settingError("TELEGRAM_BOT_TOKEN", "does not look like a bot token (digits, a colon, then letters); value not shown")
	}
	if !strings.HasPrefix(c.APIURL, "http://") && !strings.HasPrefix(c.APIURL, "https://") {
		return nil, settingError("TELEGRAM_API_URL", "want an http:// or https:// URL")
	}
	if c.ConfigFile != "" {
		if err := c.readFile(); err != nil {
			return nil, err
		}
	}
	if err := c.broadcastEnv(getenv); err != nil {
		return nil, err
	}
	if err := c.budgetEnv(getenv); err != nil {
		return nil, err
	}
	return c, nil
}

// budgetEnv reads the budget all chats share: VIGIL_EVIDENCE_BYTES_PER_HOUR
// and _PER_DAY (bytes, or with a unit as redis.conf writes them: 256mb,
// 1gb), VIGIL_REPORTS_PER_HOUR and _PER_DAY. Call it after the file's
// [files] limits are read.
func (c *Config) budgetEnv(getenv func(string) string) error {
	for _, s := range []struct {
		name  string
		dest  *int64
		bytes bool
	}{
		{"VIGIL_EVIDENCE_BYTES_PER_HOUR", &c.Budget.EvidenceBytesPerHour, true},
		{"VIGIL_EVIDENCE_BYTES_PER_DAY", &c.Budget.EvidenceBytesPerDay, true},
		{"VIGIL_REPORTS_PER_HOUR", &c.Budget.ReportsPerHour, false},
		{"VIGIL_REPORTS_PER_DAY", &c.Budget.ReportsPerDay, false},
	} {
		v := getenv(s.name)
		if v == "" {
			continue
		}
		if !s.bytes {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n <= 0 {
				return settingError(s.name, "want a number of reports above 0, for all chats together")
			}
			*s.dest = n
			continue
		}
		n, ok := parseBytes(v)
		if !ok || n <= 0 {
			return settingError(s.name, "want a size above 0 for all chats together: bytes, or with a unit as in redis.conf (256mb, 1gb)")
		}
		*s.dest = n
	}
	b := c.Budget
	switch {
	case b.EvidenceBytesPerDay < b.EvidenceBytesPerHour:
		return settingError("VIGIL_EVIDENCE_BYTES_PER_DAY", "must be at least VIGIL_EVIDENCE_BYTES_PER_HOUR (%d bytes)", b.EvidenceBytesPerHour)
	case b.EvidenceBytesPerHour < c.Files.MaxFileSize:
		return settingError("VIGIL_EVIDENCE_BYTES_PER_HOUR", "must be at least files.max_file_mb (%d MB), or no file that large could ever be taken", c.Files.MaxFileSize>>20)
	case b.ReportsPerDay < b.ReportsPerHour:
		return settingError("VIGIL_REPORTS_PER_DAY", "must be at least VIGIL_REPORTS_PER_HOUR (%d)", b.ReportsPerHour)
	}
	return nil
}

// parseBytes reads a size as redis.conf writes it: digits, optionally
// followed by k, kb, m, mb, g or gb in any case (k = 1000, kb = 1024).
func parseBytes(v string) (int64, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	digits := strings.TrimRight(v, "kmgb")
	unit := v[len(digits):]
	mult, ok := map[string]int64{"": 1, "k": 1e3, "kb": 1 << 10, "m": 1e6, "mb": 1 << 20, "g": 1e9, "gb": 1 << 30}[unit]
	n, err := strconv.ParseInt(digits, 10, 64)
	if !ok || err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

// broadcastEnv reads the broadcast settings the environment overrides:
// VIGIL_COORDINATORS ("anna=123456789,ben=987654321"),
// VIGIL_BROADCAST_RATE, VIGIL_BROADCAST_PAID, VIGIL_BROADCAST_APPROVALS.
func (c *Config) broadcastEnv(getenv func(string) string) error {
	if v := getenv("VIGIL_COORDINATORS"); v != "" {
		c.Coordinators = map[int64]string{}
		for _, pair := range strings.Split(v, ",") {
			name, id, ok := strings.Cut(strings.TrimSpace(pair), "=")
			var n int64
			if _, err := fmt.Sscan(id, &n); !ok || err != nil || n <= 0 || !validName(name) {
				return settingError("VIGIL_COORDINATORS", "want name=telegram_user_id pairs separated by commas, such as anna=123456789")
			}
			c.Coordinators[n] = name
		}
	}
	if v := getenv("VIGIL_BROADCAST_PAID"); v != "" {
		c.BroadcastPaid = v == "1" || v == "true" || v == "yes"
	}
	if v := getenv("VIGIL_BROADCAST_RATE"); v != "" {
		if _, err := fmt.Sscan(v, &c.BroadcastRate); err != nil {
			return settingError("VIGIL_BROADCAST_RATE", "want a number of messages per second")
		}
	}
	if v := getenv("VIGIL_BROADCAST_APPROVALS"); v != "" {
		if _, err := fmt.Sscan(v, &c.BroadcastApproval); err != nil {
			return settingError("VIGIL_BROADCAST_APPROVALS", "want 1, 2 or more")
		}
	}
	limit := 30.0
	if c.BroadcastPaid {
		limit = 1000
	}
	switch {
	case c.BroadcastRate <= 0 || c.BroadcastRate > limit:
		return settingError("broadcast rate", "want more than 0 and at most %g messages a second (Telegram's limit; up to 1000 with paid = true)", limit)
	case c.BroadcastApproval < 1:
		return settingError("broadcast approvals", "want 1 or more coordinators")
	}
	names := map[string]bool{}
	for _, name := range c.Coordinators {
		if names[name] {
			return settingError("coordinators", "the name %q is given twice", name)
		}
		names[name] = true
	}
	return nil
}

// validName accepts a coordinator's name: letters, digits, '.', '_', '-'.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == ""
}

func (c *Config) readFile() error {
	var f fileConfig
	md, err := toml.DecodeFile(c.ConfigFile, &f)
	if err != nil {
		return settingError("VIGIL_CONFIG", "%v", err)
	}
	if extra := md.Undecoded(); len(extra) > 0 {
		return settingError("VIGIL_CONFIG", "unknown setting %q", extra[0].String())
	}
	if f.DefaultLanguage != "" {
		c.DefaultLanguage = f.DefaultLanguage
	}
	if f.DraftTTL != "" {
		d, err := time.ParseDuration(f.DraftTTL)
		if err != nil || d < time.Minute {
			return settingError("VIGIL_CONFIG", "draft_ttl: want a duration of at least 1m, such as \"24h\"")
		}
		c.DraftTTL = d
	}
	for _, code := range f.Countries {
		r, err := language.ParseRegion(code)
		if err != nil || !r.IsCountry() || r.String() != strings.ToUpper(code) {
			return settingError("VIGIL_CONFIG", "countries: %q is not an ISO 3166-1 alpha-2 country code", code)
		}
		c.Countries = append(c.Countries, r.String())
	}
	for name, v := range map[string]struct {
		got  int
		dest *int
	}{
		"limits.messages_per_minute": {f.Limits.MessagesPerMinute, &c.Limits.MessagesPerMinute},
		"limits.reports_per_hour":    {f.Limits.ReportsPerHour, &c.Limits.ReportsPerHour},
		"limits.reports_per_day":     {f.Limits.ReportsPerDay, &c.Limits.ReportsPerDay},
	} {
		switch {
		case v.got < 0:
			return settingError("VIGIL_CONFIG", "%s: want a positive number", name)
		case v.got > 0:
			*v.dest = v.got
		}
	}
	if f.Files.MaxFiles < 0 || f.Files.MaxFileMB < 0 || f.Files.MaxTotalMB < 0 {
		return settingError("VIGIL_CONFIG", "files: limits must be positive")
	}
	if f.Files.MaxFiles > 0 {
		c.Files.MaxFiles = f.Files.MaxFiles
	}
	if f.Files.MaxFileMB > 0 {
		c.Files.MaxFileSize = int64(f.Files.MaxFileMB) << 20
	}
	if f.Files.MaxTotalMB > 0 {
		c.Files.MaxTotal = int64(f.Files.MaxTotalMB) << 20
	}
	if c.Files.MaxTotal < c.Files.MaxFileSize {
		return settingError("VIGIL_CONFIG", "files: max_total_mb must be at least max_file_mb")
	}
	if c.Response, err = f.Response.targets(); err != nil {
		return err
	}
	if err := checkinConfig(c, f); err != nil {
		return err
	}
	c.AlertChat = f.Alerts.ChatID
	if f.Alerts.Interval != "" {
		d, err := time.ParseDuration(f.Alerts.Interval)
		if err != nil || d < time.Minute {
			return settingError("VIGIL_CONFIG", "alerts.interval: want a duration of at least 1m, such as \"15m\"")
		}
		c.AlertInterval = d
	}
	if f.Broadcast.Rate != 0 {
		c.BroadcastRate = f.Broadcast.Rate
	}
	c.BroadcastPaid = f.Broadcast.Paid
	if f.Broadcast.Approvals != 0 {
		c.BroadcastApproval = f.Broadcast.Approvals
	}
	for name, id := range f.Coordinators {
		if id <= 0 || !validName(name) {
			return settingError("VIGIL_CONFIG", "coordinators.%s: want a name of letters, digits, . _ - and a Telegram user id", name)
		}
		c.Coordinators[id] = name
	}
	for k, v := range f.Emergency {
		switch {
		case k == "all":
			c.Emergency[""] = strings.TrimSpace(v)
		case slices.Contains(c.Countries, strings.ToUpper(k)):
			c.Emergency[strings.ToUpper(k)] = strings.TrimSpace(v)
		default:
			return settingError("VIGIL_CONFIG", "emergency.%s: not one of the countries (or \"all\")", k)
		}
	}
	return nil
}

// redisTarget reads REDIS_ADDRS (a Cluster's seed nodes, or with
// REDIS_MASTER_NAME the Sentinels) and REDIS_USERNAME/REDIS_PASSWORD(_FILE);
// without REDIS_ADDRS the target is REDIS_URL.
func redisTarget(getenv func(string) string, url string) (store.Target, error) {
	t := store.Target{URL: url, MasterName: getenv("REDIS_MASTER_NAME"), Username: getenv("REDIS_USERNAME")}
	for _, a := range strings.Split(getenv("REDIS_ADDRS"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil || strings.ContainsAny(a, "@/?#") {
				return t, settingError("REDIS_ADDRS", "%q is not host:port (the password goes in REDIS_PASSWORD or REDIS_PASSWORD_FILE)", redactAddr(a))
			}
			t.Addrs = append(t.Addrs, a)
		}
	}
	if t.MasterName != "" && len(t.Addrs) == 0 {
		return t, settingError("REDIS_MASTER_NAME", "needs the Sentinels in REDIS_ADDRS")
	}
	if len(t.Addrs) == 0 {
		if err := store.CheckURL(url); err != nil {
			return t, redisError(t, err)
		}
	}
	pw, err := secretSetting(getenv, "REDIS_PASSWORD")
	if err != nil {
		return t, err
	}
	t.Password = pw
	return t, nil
}

// redactAddr hides what comes before the last '@' of an address, in
// case it is a password.
func redactAddr(a string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return "xxxxx" + a[i:]
	}
	return a
}

// redisError names the setting behind an error of store.ConnectTo or
// store.CheckURL for t. A bad URL is shown with its password hidden
// (store.URLError); the other errors name addresses, never the password.
func redisError(t store.Target, err error) error {
	var bad *store.URLError
	switch {
	case errors.As(err, &bad) && bad.URL == "":
		return settingError("REDIS_URL", "%s (value not shown)", bad.Problem)
	case errors.As(err, &bad):
		return settingError("REDIS_URL", "%q: %s", bad.URL, bad.Problem)
	case len(t.Addrs) > 0:
		return settingError("REDIS_ADDRS", "%v", err)
	}
	return settingError("REDIS_URL", "%v", err)
}

// secretSetting reads NAME or the file named by NAME_FILE, not both.
func secretSetting(getenv func(string) string, name string) (string, error) {
	v, file := getenv(name), getenv(name+"_FILE")
	if v != "" && file != "" {
		return "", settingError(name, "set either %s or %s_FILE, not both", name, name)
	}
	if file == "" {
		return strings.TrimSpace(v), nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", settingError(name+"_FILE", "%v", errors.Unwrap(err))
	}
	return strings.TrimSpace(string(raw)), nil
}

func validToken(t string) bool {
	id, rest, ok := strings.Cut(t, ":")
	if !ok || id == "" || len(rest) < 20 {
		return false
	}
	for _, r := range id {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkinConfig reads [checkin]: intervals, remind_before, grace, every and
// lease are durations ("6h", "90s"), default_offset an offset from UTC
// ("+03:00").
func checkinConfig(c *Config, f fileConfig) error {
	ck := f.Checkin
	c.Checkin.Intervals = slices.Clone(flows.DefaultCheckinIntervals)
	c.Checkin.RemindBefore = time.Hour
	c.CheckinTimes = intake.CheckinTimes{Grace: 30 * time.Minute, Lease: time.Minute}
	c.CheckinEvery = 5 * time.Second
	positive := func(name, v string, into *time.Duration) error {
		if v == "" {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return settingError("VIGIL_CONFIG", "checkin.%s: want a positive duration such as \"1h\" or \"30s\"", name)
		}
		*into = d
		return nil
	}
	if len(ck.Intervals) > 0 {
		c.Checkin.Intervals = nil
		for _, v := range ck.Intervals {
			var d time.Duration
			if err := positive("intervals", v, &d); err != nil {
				return err
			}
			if d%time.Second != 0 || slices.Contains(c.Checkin.Intervals, d) {
				return settingError("VIGIL_CONFIG", "checkin.intervals: want distinct whole seconds or more, such as [\"6h\", \"12h\"]")
			}
			c.Checkin.Intervals = append(c.Checkin.Intervals, d)
		}
	}
	for _, s := range []struct {
		name, v string
		into    *time.Duration
	}{{"remind_before", ck.RemindBefore, &c.Checkin.RemindBefore}, {"grace", ck.Grace, &c.CheckinTimes.Grace}, {"every", ck.Every, &c.CheckinEvery},
		{"lease", ck.Lease, &c.CheckinTimes.Lease}} {
		if err := positive(s.name, s.v, s.into); err != nil {
			return err
		}
	}
	if c.Checkin.RemindBefore >= slices.Min(c.Checkin.Intervals) {
		return settingError("VIGIL_CONFIG", "checkin.remind_before: must be shorter than the shortest interval")
	}
	if ck.DefaultOffset != "" {
		off, ok := flows.ParseOffset(ck.DefaultOffset)
		if !ok {
			return settingError("VIGIL_CONFIG", "checkin.default_offset: want an offset from UTC such as \"+03:00\" or \"-05:00\"")
		}
		c.Checkin.DefaultOffset = off
	}
	return nil
}
