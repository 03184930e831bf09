package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/segmentio/encoding/json"
	"github.com/valyala/fasthttp"
)

// apiClient makes the Bot API calls that every update and every broadcast
// message needs: getUpdates, sendMessage, editMessageText,
// answerCallbackQuery and deleteMessage. The rest (commands menu, webhook,
// files) go through go-telegram/bot.
//
// It exists for speed, measured: go-telegram/bot encodes each request as
// multipart form data, field by field, and decodes every answer twice,
// the second time into a whole models.Message; that was about a sixth of
// the bot's CPU time under load. Here a request is one JSON body with its
// length, and of an answer only the message id and the error are read.
// It posts with fasthttp unless a proxy is set for the server (postFast),
// or it has no fasthttp client (long polls: see Bot.getUpdates).
//
// Its errors are go-telegram/bot's (tg.ErrorForbidden, a
// *tg.TooManyRequestsError, ...) with the same messages, so the retry and
// classification code does not care which client made the call. No error
// holds the token or a response body; every error answer is counted by
// code in vigil_telegram_errors_total.
type apiClient struct {
	base    string // the server URL and /bot<token>/
	http    *http.Client
	fast    *fasthttp.Client // nil: every call goes through http
	metrics *metrics
	limit   int // bytes of an answer read at most
}

// newAPIClient returns a client posting to base (the server URL and
// /bot<token>/) that reads answers of up to limit bytes: through fasthttp
// when fast is set and no proxy is (see newFastClient), through h
// otherwise.
func newAPIClient(base string, h *http.Client, m *metrics, limit int, fast bool) *apiClient {
	c := &apiClient{base: base, http: h, metrics: m, limit: limit}
	if fast {
		c.fast = newFastClient(limit)
	}
	return c
}

// maxAnswer bounds the answer read but for getUpdates; these methods
// answer a few kilobytes.
const maxAnswer = 1 << 20

// outMessage is the body of sendMessage and editMessageText.
type outMessage struct {
	ChatID             int64                        `json:"chat_id"`
	MessageID          int                          `json:"message_id,omitempty"`
	Text               string                       `json:"text"`
	ParseMode          models.ParseMode             `json:"parse_mode,omitempty"`
	ReplyMarkup        *models.InlineKeyboardMarkup `json:"reply_markup,omitempty"`
	AllowPaidBroadcast bool                         `json:"allow_paid_broadcast,omitempty"`
}

// sentMessage is what is read of a Message in an answer.
type sentMessage struct {
	ID int `json:"message_id"`
}

func (c *apiClient) sendMessage(ctx context.Context, m outMessage) (int, error) {
	sent, err := call[sentMessage](ctx, c, "sendMessage", m)
	return sent.ID, err
}

func (c *apiClient) editMessageText(ctx context.Context, m outMessage) error {
	_, err := call[json.RawMessage](ctx, c, "editMessageText", m)
	return err
}

func (c *apiClient) answerCallbackQuery(ctx context.Context, id, text string) error {
	_, err := call[bool](ctx, c, "answerCallbackQuery", struct {
		ID   string `json:"callback_query_id"`
		Text string `json:"text,omitempty"`
	}{id, text})
	return err
}

func (c *apiClient) deleteMessage(ctx context.Context, chat int64, id int) error {
	_, err := call[bool](ctx, c, "deleteMessage", struct {
		ChatID    int64 `json:"chat_id"`
		MessageID int   `json:"message_id"`
	}{chat, id})
	return err
}

// answer is the Bot API's envelope around a result of type T.
type answer[T any] struct {
	OK          bool   `json:"ok"`
	Result      T      `json:"result"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int `json:"retry_after"`
		MigrateToChatID int `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// call posts params as JSON to method and decodes the result.
func call[T any](ctx context.Context, c *apiClient, method string, params any) (T, error) {
	var zero T
	body, err := json.Marshal(params)
	if err != nil {
		return zero, fmt.Errorf("bot: %s: encode request: %w", method, err)
	}
	post := c.postStd
	if c.fast != nil {
		post = c.postFast
	}
	status, raw, done, err := post(ctx, method, body)
	if err != nil {
		return zero, fmt.Errorf("bot: %s: %w", method, err)
	}
	defer done()
	var a answer[T]
	if err := json.Unmarshal(raw, &a); err != nil {
		// Not the Bot API answering (a proxy's error page, say); the body
		// is not quoted, as it could echo the request.
		return zero, fmt.Errorf("bot: %s: undecodable answer (HTTP %d)", method, status)
	}
	if !a.OK {
		c.metrics.apiError(a.ErrorCode)
		return zero, apiError(method, a.ErrorCode, a.Description, a.Parameters.RetryAfter, a.Parameters.MigrateToChatID)
	}
	return a.Result, nil
}

// postStd posts with net/http (through a proxy, when one is set). raw is
// valid until done is called.
func (c *apiClient) postStd(ctx context.Context, method string, body []byte) (status int, raw []byte, done func(), err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+method, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, errors.New("build request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error names the URL, and so the token: keep what is
		// underneath.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, int64(c.limit)))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, raw, func() {}, nil
}

// postFast posts with fasthttp, which writes the request and reads the
// answer in the calling goroutine; net/http hands each request to two
// goroutines of its connection, and that hand-over was a sixth of the
// bot's CPU under load. It waits for the request's permit (broadcasts)
// once the request is built, as pacedTransport does for net/http. raw is
// valid until done is called.
func (c *apiClient) postFast(ctx context.Context, method string, body []byte) (status int, raw []byte, done func(), err error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(c.base + method)
	req.Header.SetMethod(http.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	if ready, ok := ctx.Value(permitKey{}).(func() error); ok && ready != nil {
		if err := ready(); err != nil {
			return 0, nil, nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, nil, err
	}
	// fasthttp takes a deadline, not a context: the context's, or the
	// client's usual minute.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	resp := fasthttp.AcquireResponse()
	if err := c.fast.DoDeadline(req, resp, deadline); err != nil {
		fasthttp.ReleaseResponse(resp)
		return 0, nil, nil, err
	}
	return resp.StatusCode(), resp.Body(), func() { fasthttp.ReleaseResponse(resp) }, nil
}

// proxyVars are the environment variables that set a proxy for net/http.
var proxyVars = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"}

// newFastClient returns a fasthttp client that reads answers of up to
// maxBody bytes, or nil when a proxy is set in the environment
// (HTTPS_PROXY and the like, even with NO_PROXY): net/http honours it,
// fasthttp does not.
func newFastClient(maxBody int) *fasthttp.Client {
	for _, v := range proxyVars {
		if os.Getenv(v) != "" {
			return nil
		}
	}
	return &fasthttp.Client{
		MaxConnsPerHost:     256,
		MaxResponseBodySize: maxBody,
		ReadTimeout:         time.Minute,
		WriteTimeout:        time.Minute,
		// No User-Agent naming the library; net/http's names Go.
		NoDefaultUserAgentHeader: true,
	}
}

// apiError is the error go-telegram/bot returns for the same answer.
func apiError(method string, code int, description string, retryAfter, migrateTo int) error {
	switch code {
	case http.StatusForbidden:
		return fmt.Errorf("%w, %s", tg.ErrorForbidden, description)
	case http.StatusBadRequest:
		if migrateTo != 0 {
			return &tg.MigrateError{Message: fmt.Sprintf("%s: %s", tg.ErrorBadRequest, description), MigrateToChatID: migrateTo}
		}
		return fmt.Errorf("%w, %s", tg.ErrorBadRequest, description)
	case http.StatusUnauthorized:
		return fmt.Errorf("%w, %s", tg.ErrorUnauthorized, description)
	case http.StatusNotFound:
		return fmt.Errorf("%w, %s", tg.ErrorNotFound, description)
	case http.StatusConflict:
		return fmt.Errorf("%w, %s", tg.ErrorConflict, description)
	case http.StatusTooManyRequests:
		return &tg.TooManyRequestsError{Message: fmt.Sprintf("%s, %s", tg.ErrorTooManyRequests, description), RetryAfter: retryAfter}
	}
	return fmt.Errorf("bot: %s: error %d %s", method, code, description)
}
