package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vigil-hrd/vigil/bot"
	"github.com/vigil-hrd/vigil/internal/redistest"
)

// TestReadyzWaitsForTelegram: /readyz is 503 while Telegram does not
// report the bot's mode (no update can arrive), even with Redis up; 200
// once it does; 503 again with Redis gone.
func TestReadyzWaitsForTelegram(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	var confirmed atomic.Bool
	h := readyz(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }, func() error {
		if confirmed.Load() {
			return nil
		}
		return bot.ErrModeNotConfirmed
	})
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	for _, step := range []struct {
		name   string
		before func()
		code   int
		says   string
	}{
		{"mode not confirmed", func() {}, http.StatusServiceUnavailable, "telegram"},
		{"mode confirmed", func() { confirmed.Store(true) }, http.StatusOK, "ready"},
		{"redis gone", srv.Kill, http.StatusServiceUnavailable, "redis"},
	} {
		step.before()
		if code, body := get(); code != step.code || !strings.Contains(body, step.says) {
			t.Fatalf("%s: %d %q, want %d saying %q", step.name, code, body, step.code, step.says)
		}
	}
}
