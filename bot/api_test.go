package bot

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/metrictest"
)

const apiToken = "424242:AAApiClientTestToken_abcdefghijk"

// testClient returns a client of the server at url, posting with
// fasthttp when fast is set, with net/http otherwise (as behind a proxy).
func testClient(t *testing.T, url string, fast bool) (*apiClient, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	c := newAPIClient(url+"/bot"+apiToken+"/", &http.Client{}, newMetrics(reg), maxAnswer, fast)
	if fast && c.fast == nil {
		t.Fatal("no fasthttp client without a proxy set")
	}
	return c, reg
}

// bothWays runs test with each way of posting.
func bothWays(t *testing.T, test func(t *testing.T, fast bool)) {
	t.Run("fasthttp", func(t *testing.T) { test(t, true) })
	t.Run("net/http", func(t *testing.T) { test(t, false) })
}

// telegramErrors reads vigil_telegram_errors_total{code} from reg.
func telegramErrors(t *testing.T, reg *prometheus.Registry, code string) float64 {
	return metrictest.Value(t, reg, "vigil_telegram_errors_total", map[string]string{"code": code})
}

// clientOnFake returns a client of the fake Bot API, which knows one
// private chat.
func clientOnFake(t *testing.T, chatID int64, fast bool) (*apiClient, *prometheus.Registry, *fakeapi.Server, models.Chat) {
	api := fakeapi.New(t, apiToken)
	chat := models.Chat{ID: chatID, Type: models.ChatTypePrivate}
	api.AddChat(chat)
	c, reg := testClient(t, api.URL(), fast)
	return c, reg, api, chat
}

func TestAPIClientSendsWhatTelegramExpects(t *testing.T) { bothWays(t, testAPIClientSends) }

func testAPIClientSends(t *testing.T, fast bool) {
	c, _, api, chat := clientOnFake(t, 77, fast)
	ctx := context.Background()

	kb := keyboard([][]flows.Button{{{Label: "Yes", Data: "0|y"}, {Label: "No", Data: "0|n"}}})
	id, err := c.sendMessage(ctx, outMessage{ChatID: chat.ID, Text: "<b>Ünïcode</b> & more", ParseMode: models.ParseModeHTML, ReplyMarkup: kb})
	if err != nil || id == 0 {
		t.Fatalf("sendMessage: id %d, err %v", id, err)
	}
	query := api.PressButton(chat, models.User{ID: chat.ID, FirstName: "D"}, id, "0|y")
	if err := c.answerCallbackQuery(ctx, query, "Saved"); err != nil {
		t.Fatalf("answerCallbackQuery: %v", err)
	}
	if err := c.editMessageText(ctx, outMessage{ChatID: chat.ID, MessageID: id, Text: "edited"}); err != nil {
		t.Fatalf("editMessageText: %v", err)
	}
	if err := c.deleteMessage(ctx, chat.ID, id); err != nil {
		t.Fatalf("deleteMessage: %v", err)
	}

	sent := api.Sent(chat.ID)
	if len(sent) != 3 {
		t.Fatalf("the fake saw %d actions, want 3: %+v", len(sent), sent)
	}
	if s := sent[0]; s.Method != "sendMessage" || s.MessageID != id || s.Text != "Ünïcode & more" || s.ParseMode != "HTML" ||
		len(s.Keyboard) != 1 || len(s.Keyboard[0]) != 2 || s.Keyboard[0][1].CallbackData != "0|n" {
		t.Errorf("sendMessage arrived as %+v", s)
	}
	if s := sent[1]; s.Method != "editMessageText" || s.MessageID != id || s.Text != "edited" || s.Keyboard != nil {
		t.Errorf("editMessageText arrived as %+v", s)
	}
	if s := sent[2]; s.Method != "deleteMessage" || s.MessageID != id {
		t.Errorf("deleteMessage arrived as %+v", s)
	}
	if a := api.CallbackAnswers(); len(a) != 1 || a[0].QueryID != query || a[0].Text != "Saved" {
		t.Errorf("callback answers: %+v", a)
	}
}

// The client's errors must be go-telegram/bot's, so retry, errorKind and
// broadcastError treat them as before, and each is counted by code.
func TestAPIClientErrorsAreTheLibrarys(t *testing.T) { bothWays(t, testAPIClientErrors) }

func testAPIClientErrors(t *testing.T, fast bool) {
	c, reg, api, chat := clientOnFake(t, 78, fast)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		failure  fakeapi.Failure
		kind     string
		check    func(error) bool
		metricOf string
	}{
		{"flood", fakeapi.Failure{Code: 429, Description: "Too Many Requests: retry after 7", RetryAfter: 7}, "too-many-requests",
			func(err error) bool {
				var tm *tg.TooManyRequestsError
				return errors.As(err, &tm) && tm.RetryAfter == 7
			}, "429"},
		{"blocked", fakeapi.Failure{Code: 403, Description: "Forbidden: bot was blocked by the user"}, "forbidden",
			func(err error) bool {
				return errors.Is(err, tg.ErrorForbidden) && errors.Is(broadcastError(err), broadcast.ErrBlocked)
			}, "403"},
		{"not modified", fakeapi.Failure{Code: 400, Description: "Bad Request: message is not modified"}, "bad-request",
			isNotModified, "400"},
		{"server", fakeapi.Failure{Code: 502, Description: "Bad Gateway"}, "other",
			func(err error) bool { return !errors.Is(err, tg.ErrorBadRequest) }, "502"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api.FailNext("sendMessage", 1, tc.failure)
			_, err := c.sendMessage(ctx, outMessage{ChatID: chat.ID, Text: "marker-text-api"})
			if err == nil {
				t.Fatal("no error")
			}
			if got := errorKind(err); got != tc.kind {
				t.Errorf("errorKind = %q, want %q (%v)", got, tc.kind, err)
			}
			if !tc.check(err) {
				t.Errorf("error %v is not what go-telegram/bot returns", err)
			}
			if strings.Contains(err.Error(), "marker-text-api") {
				t.Errorf("the error quotes the message: %v", err)
			}
			if n := telegramErrors(t, reg, tc.metricOf); n != 1 {
				t.Errorf("vigil_telegram_errors_total{code=%q} = %v, want 1", tc.metricOf, n)
			}
		})
	}
}

func TestAPIClientErrorsHoldNoToken(t *testing.T) { bothWays(t, testAPIClientNoToken) }

func testAPIClientNoToken(t *testing.T, fast bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, _ := testClient(t, "http://"+addr, fast)
	_, err = c.sendMessage(context.Background(), outMessage{ChatID: 1, Text: "x"})
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	if strings.Contains(err.Error(), apiToken) || strings.Contains(err.Error(), "AAApiClient") {
		t.Errorf("the error names the token: %v", err)
	}
	if errorKind(err) != "network" {
		t.Errorf("errorKind = %q, want network (%v)", errorKind(err), err)
	}

	// A proxy's error page is not the Bot API: an error, retried, quoting
	// nothing of the body.
	proxy := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>marker-proxy-page</html>"))
	})}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go proxy.Serve(ln)
	defer proxy.Close()
	c, _ = testClient(t, "http://"+ln.Addr().String(), fast)
	_, err = c.sendMessage(context.Background(), outMessage{ChatID: 1, Text: "x"})
	if err == nil || strings.Contains(err.Error(), "marker-proxy-page") || errorKind(err) != "other" {
		t.Errorf("a proxy's page gave %v (kind %s)", err, errorKind(err))
	}
}

// Behind a proxy, calls go through net/http, which honours it.
func TestAPIClientUsesNetHTTPBehindAProxy(t *testing.T) {
	for _, v := range proxyVars {
		t.Setenv(v, "")
	}
	if newFastClient(maxAnswer) == nil {
		t.Error("net/http chosen with no proxy set")
	}
	t.Setenv("https_proxy", "http://proxy.invalid:3128")
	if newFastClient(maxAnswer) != nil {
		t.Error("fasthttp chosen with https_proxy set")
	}
}
