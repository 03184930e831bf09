package main

import (
	"context"
	"flag"
	"io"

	"github.com/vigil-hrd/vigil/bot"
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
	log := newLogger(stderr, cfg.LogLevel)
	a, err := openApp(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := bot.New(ctx, bot.Config{Token: cfg.Token, APIURL: cfg.APIURL, Service: a.service, Replies: a.service, Text: a.text, Log: log,
		Alerts: &bot.AlertConfig{Source: a.service, Chat: cfg.AlertChat, Interval: cfg.AlertInterval, Lease: cfg.ClaimLease}})
	if err != nil {
		return err
	}
	a.fetcher = b.Fetch
	b.Run(ctx)
	return nil
}
