package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/budget"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/locales"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

// app is the wired core shared by the bot and the console.
type app struct {
	cfg     *Config
	log     *slog.Logger
	text    *locales.Catalog
	rdb     redis.UniversalClient
	store   *store.Store
	service *intake.Service
	budget  *budget.Budget // shared by all chats and every bot process
	keys    *seal.Keys
	// trust is the staff keyring in force, for the processes that deliver
	// staff replies (the bot, the console).
	trust *sign.Trust
	// broadcasts and open are set for the bot: coordinators' publications,
	// and the opener of their texts.
	broadcasts *broadcast.Service
	open       func([]byte) ([]byte, error)
	fetcher    func(ctx context.Context, id string) (io.ReadCloser, error)
}

// newLogger writes structured lines to w. Callers log kinds and counts,
// never content.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openApp wires the core. delivers is true for the bot, which also delivers
// staff replies and so needs its reply key and the staff keyring that
// replies and publications are checked against.
func openApp(ctx context.Context, cfg *Config, log *slog.Logger, delivers bool) (*app, error) {
	text, err := locales.Load(cfg.DefaultLanguage)
	if err != nil {
		return nil, settingError("VIGIL_CONFIG", "default_language: %v", err)
	}
	recipients, err := seal.LoadRecipients(cfg.RecipientsFile)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, seal.ErrNoRecipients) {
		return nil, settingError("VIGIL_RECIPIENTS_FILE", "%v (create one with `vigil keygen -o staff.key` and put the printed age1… key in it)", err)
	} else if err != nil {
		return nil, settingError("VIGIL_RECIPIENTS_FILE", "%v", err)
	}
	var trust *sign.Trust
	if delivers {
		if trust, err = loadTrust(cfg, log); err != nil {
			return nil, err
		}
	}
	keys, created, err := seal.LoadOrCreateKeys(cfg.SecretFile)
	if err != nil {
		return nil, settingError("VIGIL_SECRET_FILE", "%v", err)
	}
	if created {
		log.Info("created the bot's secret key", "file", cfg.SecretFile)
	}
	store.LogLibraryTo(log)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	target := cfg.Redis
	target.PoolSize = cfg.Partitions + 32
	rdb, err := store.ConnectTo(cctx, target)
	if err != nil {
		return nil, redisError(target, err)
	}
	st := store.New(rdb, store.Options{DraftTTL: cfg.DraftTTL, WaitReplicas: cfg.WaitReplicas})
	if err := st.Init(cctx); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("prepare the queue: %w", err)
	}
	engine := flows.New(text, flows.Config{
		Countries: cfg.Countries,
		Emergency: cfg.Emergency,
		Files:     cfg.Files,
		NewID:     intake.NewDraftID,
		Checkin:   withMAC(cfg.Checkin, keys),
	})
	// The bot's reply key: staff seal replies to it, the bot opens them.
	var botID seal.Identity
	if delivers {
		if botID, err = intake.EnsureBotIdentity(cctx, st, keys); err != nil {
			rdb.Close()
			return nil, settingError("VIGIL_SECRET_FILE", "%v", err)
		}
	}
	a := &app{cfg: cfg, log: log, text: text, rdb: rdb, store: st, keys: keys, trust: trust}
	if delivers {
		botKey, err := intake.BotRecipient(cctx, st, recipients)
		if err != nil {
			rdb.Close()
			return nil, fmt.Errorf("read the bot's public key: %w", err)
		}
		// Staff pin this key; when it changes they ask whoever runs the
		// bot, who finds it here.
		log.Info("bot reply key", "recipient", botKey)
		sealer, err := broadcast.SealFor(recipients, botKey)
		if err != nil {
			rdb.Close()
			return nil, settingError("VIGIL_RECIPIENTS_FILE", "%v", err)
		}
		a.open = broadcast.Opener(botID)
		a.broadcasts = broadcast.New(broadcast.Config{Store: st, Seal: sealer, Open: a.open,
			Bot: keys, Trust: trust, Approvals: cfg.BroadcastApproval})
	}
	a.budget = budget.New(budget.Config{Store: st, Limits: cfg.Budget, Log: log})
	a.service = intake.New(intake.Config{Engine: engine, Store: st, Keys: keys, Recipients: recipients, BotIdentity: botID,
		Checkin: cfg.CheckinTimes,
		Trust:   trust, ReplyMaxAge: cfg.ReplyMaxAge, Limits: cfg.Limits, Budget: a.budget, Log: log, Fetch: a.fetch, Broadcasts: a.broadcasts, Rate: cfg.BroadcastRate})
	log.Info("ready", "recipients", len(recipients.Keys()), "languages", len(text.Languages()), "countries", len(cfg.Countries))
	return a, nil
}

// loadTrust reads the staff keyring (VIGIL_STAFF_KEYRING) that staff
// replies, broadcasts, guidance pages and their approvals must be signed
// by, and logs whom it trusts.
func loadTrust(cfg *Config, log *slog.Logger) (*sign.Trust, error) {
	if cfg.StaffKeyring == "" {
		return nil, settingError("VIGIL_STAFF_KEYRING", "not set: give the staff keyring file, which lists the keys that sign replies to defenders (see docs/signing.md)")
	}
	trust, err := sign.LoadTrust(cfg.StaffKeyring)
	if err != nil {
		return nil, err // names the setting's file, the line and the entry
	}
	staff, coordinators := trust.Keyring().Counts()
	log.Info("staff keyring", "staff", staff, "coordinators", coordinators)
	return trust, nil
}

// fetch opens a file a defender sent, through the front end that received
// it (the bot sets fetcher before it starts).
func (a *app) fetch(ctx context.Context, id string) (io.ReadCloser, error) {
	if a.fetcher == nil {
		return nil, errors.New("files can be sent only through Telegram")
	}
	return a.fetcher(ctx, id)
}

func (a *app) Close() error { return a.rdb.Close() }

// withMAC gives the check-ins' settings the bot's MAC of duress words.
func withMAC(ck flows.CheckinConfig, keys *seal.Keys) flows.CheckinConfig {
	ck.MAC = intake.DuressMAC(keys)
	return ck
}
