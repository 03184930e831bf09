// Package fakeapi is an in-process fake of the Telegram Bot API for
// end-to-end tests of bots built on github.com/go-telegram/bot.
//
// A [Server] speaks real HTTP (net/http/httptest) at POST|GET
// /bot<token>/<method> and serves files at GET /file/bot<token>/<file_path>.
// Point the bot at it with bot.WithServerURL(s.URL()), script the human side
// with [Server.SendText], [Server.PressButton], [Server.SendDocument],
// [Server.SendPhoto], [Server.SendVoice], [Server.SendVideo] and
// [Server.SendUpdate] (with [Server.AddFile] for other media), and assert on what the bot did with [Server.Sent],
// [Server.Messages], [Server.Deleted], [Server.CallbackAnswers],
// [Server.Downloads], [Server.Calls] and [Server.Polls]. Tests wait for the bot with
// [Server.WaitFor] or [Server.WaitSent], never with sleeps. For broadcasts,
// [Server.Block], [Server.Flood] and [Server.LimitRate] play Telegram's
// refusals, observed with [Server.Sends], [Server.Violations] and
// [MaxInWindow].
//
// # What is faithful
//
//   - Transport: request bodies are read as multipart/form-data (what
//     go-telegram/bot sends: scalars as plain strings, structured values as
//     JSON strings), application/x-www-form-urlencoded or application/json,
//     plus query parameters. Method names are case-insensitive. Every answer
//     is {"ok":true,"result":…} or {"ok":false,"error_code":N,"description":…}
//     with HTTP status N, results are encoded from go-telegram/bot/models
//     types, and errors use Telegram's descriptions. [Server.FailNext]
//     injects error answers, [Server.DropNext] network failures.
//   - Methods: getMe, setWebhook, deleteWebhook and getWebhookInfo (the
//     webhook is recorded, never posted to), setMyCommands, getUpdates,
//     sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage,
//     answerCallbackQuery, sendChatAction and getFile. Others answer 404 Not
//     Found (and are logged), like unknown methods.
//   - getUpdates: offset confirms (drops) older updates, a negative offset
//     keeps only the newest ones, limit (1–100), long polling that returns as
//     soon as an update arrives, the timeout passes or the client goes away,
//     allowed_updates (remembered between calls; by default chat_member and
//     message reactions are not delivered), and 409 Conflict for a poll
//     superseded by a newer one, for a poll while a webhook is set, and for
//     a poll waiting when a webhook is set.
//   - Messages: ids are per chat and shared with the user's messages, text is
//     trimmed, HTML parse mode is parsed into plain text and entities (with
//     Telegram's parse errors), lengths are counted in UTF-16 code units,
//     inline keyboards are validated (callback_data 1–64 bytes, no
//     action-less buttons), editing without reply_markup removes the inline
//     keyboard, identical edits are rejected as "message is not modified",
//     only the bot's own messages can be edited, reply_parameters must name
//     an existing message. Incoming user messages get bot_command entities
//     (in captions too). deleteMessage deletes the bot's messages and the
//     users' (bots may delete incoming messages in private chats), but not
//     messages dated more than 48 hours ago ("message can't be deleted for
//     everyone").
//   - Files users send: documents, photos (several sizes, smallest first,
//     each with its own file_id), voice notes and videos carry file_id,
//     file_unique_id and file_size. getFile answers file_id, file_unique_id,
//     file_size and file_path ("documents/file_3.pdf", "photos/file_4.jpg"),
//     "invalid file_id" for unknown ids and "file is too big" above 20 MB
//     (settable with [Server.SetFileSizeLimit], to play a self-hosted
//     server). GET /file/bot<token>/<file_path> (bot.FileDownloadLink)
//     serves the bytes as application/octet-stream with Content-Length, once
//     getFile has issued the path; 404 Not Found otherwise, 401 Unauthorized
//     for a wrong token. [Server.FailDownloads] injects download failures.
//   - Callback queries: each query id can be answered once.
//   - Broadcast refusals: [Server.Block] answers every call naming a chat
//     with 403 "Forbidden: bot was blocked by the user" (or another
//     description, such as "Forbidden: user is deactivated"). [Server.Flood]
//     starts flood waits at random (seeded): 429 "Too Many Requests: retry
//     after N" with parameters.retry_after, then N seconds during which every
//     sendMessage gets 429 with the seconds left. [Server.LimitRate] refuses,
//     with 429 and retry_after 1, a sendMessage over N accepted ones in the
//     trailing second. Calls refused inside a flood window or over the limit
//     are counted by [Server.Violations] (the call that starts a flood is
//     not). sendMessage to a chat never seen is 400 "Bad Request: chat not
//     found". Unknown parameters, allow_paid_broadcast among them, are
//     accepted and ignored.
//
// # What is simplified or missing
//
// Markdown and MarkdownV2 text is stored verbatim (not parsed or validated);
// entities are not auto-detected in the bot's own messages (URLs, mentions);
// callback queries never expire; chats are known only through updates or
// [Server.AddChat], and membership, permissions and privacy are not modelled
// (so the bot may delete anyone's message in groups too, and only the 48-hour
// rule is checked, against the message's stored date).
// Webhooks: setWebhook records the URL (only HTTPS, or http://127.0.0.1 for
// tests), its allowed_updates and max_connections for getWebhookInfo, and
// makes getUpdates answer 409 until deleteWebhook (or setWebhook with an
// empty URL) removes it; but the fake never posts updates to it (a test
// plays the deliveries with [Server.WebhookUpdate]), so getWebhookInfo
// reports no delivery errors and no ip_address.
// Limits: there is no rate limiting unless injected with [Server.FailNext],
// [Server.Flood] or [Server.LimitRate]. These two apply to sendMessage only,
// after validation (a malformed message gets its 400 even in a flood
// window), with one window for the whole bot: Telegram's per-chat (about one
// a second) and per-group (20 a minute) limits are not modelled, and
// allow_paid_broadcast neither raises the limit nor costs Stars. Floods
// start only at random, never because of load. Blocking is not tied to
// updates: Block sends no my_chat_member update, and a blocked user can
// still write to the bot.
// Files: ids are fake (readable, stable within one Server, unknown to any
// other); file paths never expire (Telegram guarantees one hour); photos are
// not recompressed, the smaller size is simply the first half of the bytes
// and dimensions are read only from JPEG, PNG and GIF data; videos have zero
// width, height and duration; there is no Range support.
// Not covered at all: the bot sending or uploading media (sendPhoto,
// sendDocument, … answer 404), posting to a webhook, inline mode and inline messages,
// payments, games, polls, forums/topics, business connections, and every
// other method.
package fakeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-telegram/bot/models"
)

// Telegram limits the fake enforces.
const (
	maxTextLength   = 4096           // UTF-16 code units of message text after parsing
	maxCallbackData = 64             // bytes of callback_data
	maxUpdatesLimit = 100            // getUpdates limit
	maxBodySize     = 64 << 20       // bytes read from a request body
	maxDeleteAge    = 48 * time.Hour // older messages cannot be deleted
)

// Server is a fake Telegram Bot API server for one bot token. It is safe for
// concurrent use. Create it with [New]. Message methods and the per-chat
// observers ([Server.Sent], [Server.Messages], …) cost the same however many
// chats there are and however many messages other chats hold (only
// "@username" chat ids are searched for), so broadcasts to 100,000 chats
// stay fast.
type Server struct {
	tb     testing.TB
	token  string
	bot    models.User
	srv    *httptest.Server
	closed chan struct{} // closed when the test ends, to release long polls

	mu           sync.Mutex
	webhook      models.WebhookInfo // set by setWebhook; URL "" when none
	changed      chan struct{}      // closed and replaced on every state change
	chats        map[int64]*chatState
	updates      []queuedUpdate // undelivered or unconfirmed, ascending ids
	lastUpdateID int64
	allowed      []string // allowed_updates; nil means Telegram's default
	pollGen      uint64   // bumped by every getUpdates; older polls lose
	queries      map[string]*callbackQuery
	lastQueryID  int64
	answers      []CallbackAnswer
	commands     []models.BotCommand
	calls        map[string]int // by lower-case method name
	polls        []Poll         // getUpdates calls answered, in order
	failures     []*failureRule
	limits       sendLimits // Block, Flood and LimitRate

	files            map[string]*storedFile // by file_id
	filePaths        map[string]*storedFile // by file_path
	fileLimit        int64                  // getFile refuses bigger files; <= 0: no limit
	downloads        int
	downloadFailures []downloadFailure
}

type chatState struct {
	info     models.Chat
	lastID   int                    // last message id used in the chat
	messages map[int]*storedMessage // by message id; deleted ones are removed
	log      []Action
	actions  []models.ChatAction
	deleted  []int // ids of the messages deleted with deleteMessage, in order
}

// queuedUpdate is an update encoded once, when queued: the encoding is a
// snapshot, and some models types (ChatMember) modify themselves while being
// marshalled, so concurrent polls must not marshal shared values.
type queuedUpdate struct {
	id   int64
	kind string // as in allowed_updates
	json json.RawMessage
}

type storedMessage struct {
	msg   models.Message
	byBot bool
}

type callbackQuery struct {
	chatID    int64
	messageID int
	data      string
	answered  bool
}

// Action is one successful change the bot made to a chat, as returned by
// [Server.Sent]. Text, Entities and Keyboard describe the message right after
// the action (for deleteMessage: right before it disappeared).
type Action struct {
	Method      string // sendMessage, editMessageText, editMessageReplyMarkup or deleteMessage
	ChatID      int64
	MessageID   int
	Text        string // visible text: trimmed, HTML markup parsed away
	Entities    []models.MessageEntity
	RawText     string                          // the text parameter exactly as sent; "" when the method has none
	ParseMode   string                          // parse_mode as sent
	Keyboard    [][]models.InlineKeyboardButton // inline keyboard on the message; nil when none
	ReplyMarkup string                          // reply_markup as sent (JSON), any kind; "" when absent
	At          time.Time                       // when the fake received the call
}

// CallbackAnswer records one successful answerCallbackQuery call.
type CallbackAnswer struct {
	QueryID   string
	ChatID    int64 // chat of the message whose button was pressed
	MessageID int   // message whose button was pressed
	Data      string
	Text      string
	ShowAlert bool
	URL       string
	CacheTime int
}

// Failure is an error answer in Telegram's format. Code is both the HTTP
// status and error_code, and must be 400–599. Build common ones with
// [TooManyRequests], [Forbidden], [BadRequest] and [ServerError].
type Failure struct {
	Code            int
	Description     string
	RetryAfter      int   // sent as parameters.retry_after when > 0
	MigrateToChatID int64 // sent as parameters.migrate_to_chat_id when != 0
}

// TooManyRequests is Telegram's flood-wait answer: 429 "Too Many Requests:
// retry after N" with parameters.retry_after = N. go-telegram/bot turns it
// into *bot.TooManyRequestsError.
func TooManyRequests(retryAfter int) Failure {
	return Failure{
		Code:        http.StatusTooManyRequests,
		Description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter),
		RetryAfter:  retryAfter,
	}
}

// Forbidden is 403 "Forbidden: bot was blocked by the user".
func Forbidden() Failure {
	return Failure{Code: http.StatusForbidden, Description: BlockedByUser}
}

// BadRequest is a 400 answer; "Bad Request: " is prepended to description
// unless already there.
func BadRequest(description string) Failure {
	if !strings.HasPrefix(description, "Bad Request: ") {
		description = "Bad Request: " + description
	}
	return Failure{Code: http.StatusBadRequest, Description: description}
}

// ServerError is a 5xx answer such as 500 "Internal Server Error" or 502
// "Bad Gateway".
func ServerError(code int) Failure {
	return Failure{Code: code, Description: http.StatusText(code)}
}

type failureRule struct {
	method string // lower case; "" matches every method
	chatID *int64 // nil matches every request
	left   int
	f      Failure
	drop   bool // close the connection instead of answering f
}

// New starts a fake API for token, which must look like a real one
// ("<numeric bot id>:<secret>"), and stops it when tb's test ends. Requests
// with any other token are answered 401 Unauthorized.
func New(tb testing.TB, token string) *Server {
	tb.Helper()
	idText, _, found := strings.Cut(token, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !found || err != nil || id <= 0 {
		tb.Fatalf("fakeapi.New: token must be \"<numeric bot id>:<secret>\", got %q", token)
	}
	s := &Server{
		tb:    tb,
		token: token,
		bot: models.User{
			ID:            id,
			IsBot:         true,
			FirstName:     "Fake Bot",
			Username:      fmt.Sprintf("fake%d_bot", id),
			CanJoinGroups: true,
		},
		closed:  make(chan struct{}),
		changed: make(chan struct{}),
		chats:   make(map[int64]*chatState),
		queries: make(map[string]*callbackQuery),
		calls:   make(map[string]int),

		files:     make(map[string]*storedFile),
		filePaths: make(map[string]*storedFile),
		fileLimit: DefaultFileSizeLimit,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	tb.Cleanup(func() {
		close(s.closed)
		s.srv.Close()
	})
	return s
}

// URL returns the base URL to pass to bot.WithServerURL.
func (s *Server) URL() string { return s.srv.URL }

// Bot returns the bot's own user, as getMe reports it: the id is the token's
// numeric prefix.
func (s *Server) Bot() models.User { return s.bot }

// notifyLocked wakes everyone waiting for a state change. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// ---------------------------------------------------------------------------
// The human side.

// AddChat makes a chat known, so the bot can write to it without having
// received an update from it first (Telegram answers "chat not found"
// otherwise). Adding a known chat updates its details.
func (s *Server) AddChat(c models.Chat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatLocked(c)
	s.notifyLocked()
}

// chatLocked returns the state of chat c, creating it when new. An empty
// Type is filled in from the id: positive ids are private chats, -100…
// supergroups, other negative ids basic groups.
func (s *Server) chatLocked(c models.Chat) *chatState {
	if c.Type == "" {
		switch {
		case c.ID > 0:
			c.Type = models.ChatTypePrivate
		case c.ID <= -1_000_000_000_000:
			c.Type = models.ChatTypeSupergroup
		default:
			c.Type = models.ChatTypeGroup
		}
	}
	cs := s.chats[c.ID]
	if cs == nil {
		cs = &chatState{messages: make(map[int]*storedMessage)}
		s.chats[c.ID] = cs
	}
	cs.info = c
	return cs
}

// SendText queues an update in which from writes text in chat, and returns
// its update id. Commands ("/start", "/help@bot …") get bot_command entities
// as Telegram adds them. The message gets the chat's next message id.
func (s *Server) SendText(chat models.Chat, from models.User, text string) (updateID int64) {
	msg := &models.Message{
		From:     &from,
		Chat:     chat,
		Text:     text,
		Entities: commandEntities(text),
	}
	return s.SendUpdate(models.Update{Message: msg})
}

// PressButton queues a callback_query update in which from presses the
// inline button carrying data on the bot's message messageID in chat, and
// returns the query id for answerCallbackQuery. The update's message is the
// bot message as it currently stands, keyboard included. Pressing a button
// that is not on that message is impossible in Telegram, so it fails the
// test; call PressButton from the test goroutine.
func (s *Server) PressButton(chat models.Chat, from models.User, messageID int, data string) (queryID string) {
	s.tb.Helper()
	s.mu.Lock()
	cs := s.chatLocked(chat)
	sm := cs.messages[messageID]
	if sm == nil || !sm.byBot || !hasCallbackButton(sm.msg.ReplyMarkup, data) {
		s.mu.Unlock()
		s.tb.Fatalf("fakeapi: PressButton: chat %d has no bot message %d with a button whose callback_data is %q", chat.ID, messageID, data)
		return ""
	}
	s.lastQueryID++
	queryID = strconv.FormatInt(1_000_000_000_000_000+s.lastQueryID, 10)
	s.queries[queryID] = &callbackQuery{chatID: chat.ID, messageID: messageID, data: data}
	_, err := s.enqueueLocked(models.Update{CallbackQuery: &models.CallbackQuery{
		ID:   queryID,
		From: from,
		Message: models.MaybeInaccessibleMessage{
			Type:    models.MaybeInaccessibleMessageTypeMessage,
			Message: cloneMessage(&sm.msg),
		},
		ChatInstance: strconv.FormatUint(uint64(chat.ID)*2654435761, 10),
		Data:         data,
	}})
	s.mu.Unlock()
	if err != nil {
		s.tb.Fatalf("fakeapi: PressButton: %v", err)
	}
	return queryID
}

func hasCallbackButton(m *models.InlineKeyboardMarkup, data string) bool {
	if m == nil {
		return false
	}
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData == data {
				return true
			}
		}
	}
	return false
}

// SendUpdate queues any update (stickers, locations, group events, …) and
// returns its id; u.ID is ignored and replaced by the next update id. Chats
// the update mentions become known. A Message or ChannelPost is copied, gets
// the chat's next message id when its ID is 0 and the current time when its
// Date is 0, and is stored so that the bot can reply to or delete it. A
// CallbackQuery with an ID can be answered.
// The update is encoded right away; one that cannot be encoded (say, a
// zero models.ChatMember) fails the test.
func (s *Server) SendUpdate(u models.Update) (updateID int64) {
	s.tb.Helper()
	s.mu.Lock()
	updateID, err := s.sendUpdateLocked(u)
	s.mu.Unlock()
	if err != nil {
		s.tb.Fatalf("fakeapi: SendUpdate: %v", err)
	}
	return updateID
}

// WebhookUpdate is SendUpdate for a bot in webhook mode: the update is
// recorded as SendUpdate records it (its message stored, its button press
// known to answerCallbackQuery) and numbered, but not queued for
// getUpdates; it returns the JSON Telegram would post to the webhook.
func (s *Server) WebhookUpdate(u models.Update) []byte {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.sendUpdateLocked(u); err != nil {
		s.tb.Fatalf("fakeapi: WebhookUpdate: %v", err)
	}
	q := s.updates[len(s.updates)-1]
	s.updates = s.updates[:len(s.updates)-1]
	return q.json
}

func (s *Server) sendUpdateLocked(u models.Update) (int64, error) {
	if u.Message != nil {
		u.Message = s.storeIncomingLocked(*u.Message)
	}
	if u.ChannelPost != nil {
		u.ChannelPost = s.storeIncomingLocked(*u.ChannelPost)
	}
	for _, m := range []*models.Message{u.EditedMessage, u.EditedChannelPost} {
		if m != nil {
			s.chatLocked(m.Chat)
		}
	}
	if q := u.CallbackQuery; q != nil && q.Message.Message != nil {
		s.chatLocked(q.Message.Message.Chat)
		if q.ID != "" && s.queries[q.ID] == nil {
			s.queries[q.ID] = &callbackQuery{chatID: q.Message.Message.Chat.ID, messageID: q.Message.Message.ID, data: q.Data}
		}
	}
	for _, m := range []*models.ChatMemberUpdated{u.MyChatMember, u.ChatMember} {
		if m != nil {
			s.chatLocked(m.Chat)
		}
	}
	if u.ChatJoinRequest != nil {
		s.chatLocked(u.ChatJoinRequest.Chat)
	}
	return s.enqueueLocked(u)
}

// storeIncomingLocked stores a message written by someone other than the
// bot, numbering and dating it when needed, and returns it.
func (s *Server) storeIncomingLocked(m models.Message) *models.Message {
	cs := s.chatLocked(m.Chat)
	m.Chat = cs.info
	if m.ID == 0 {
		m.ID = cs.lastID + 1
	}
	cs.lastID = max(cs.lastID, m.ID)
	if m.Date == 0 {
		m.Date = int(time.Now().Unix())
	}
	cs.messages[m.ID] = &storedMessage{msg: m}
	return &m
}

// enqueueLocked gives u the next update id and queues its encoding.
func (s *Server) enqueueLocked(u models.Update) (int64, error) {
	u.ID = s.lastUpdateID + 1
	raw, err := json.Marshal(&u)
	if err != nil {
		return 0, fmt.Errorf("encode update: %w", err)
	}
	s.lastUpdateID = u.ID
	s.updates = append(s.updates, queuedUpdate{id: u.ID, kind: updateKind(&u), json: raw})
	s.notifyLocked()
	return u.ID, nil
}

// ---------------------------------------------------------------------------
// Observation.

// Sent returns, in order, the messages the bot sent, edited and deleted in
// the chat (deletions of users' messages included; [Server.Deleted] lists
// just the deleted ids). Chat actions are in [Server.ChatActions]; failed calls are only
// counted by [Server.Calls].
func (s *Server) Sent(chatID int64) []Action {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chats[chatID]
	if cs == nil {
		return nil
	}
	out := make([]Action, len(cs.log))
	for i, a := range cs.log {
		a.Entities = slices.Clone(a.Entities)
		a.Keyboard = cloneKeyboard(a.Keyboard)
		out[i] = a
	}
	return out
}

// Messages returns the bot's messages still visible in the chat, in message
// id order, with their current text and inline keyboard.
func (s *Server) Messages(chatID int64) []models.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chats[chatID]
	if cs == nil {
		return nil
	}
	var out []models.Message
	for _, sm := range cs.messages {
		if sm.byBot {
			out = append(out, *cloneMessage(&sm.msg))
		}
	}
	slices.SortFunc(out, func(a, b models.Message) int { return a.ID - b.ID })
	return out
}

// Deleted returns the ids of the messages deleted in the chat with
// deleteMessage, the bot's own and its users' alike, in the order they were
// deleted.
func (s *Server) Deleted(chatID int64) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.chats[chatID]; cs != nil {
		return slices.Clone(cs.deleted)
	}
	return nil
}

// ChatActions returns the actions sent with sendChatAction to the chat, in
// order.
func (s *Server) ChatActions(chatID int64) []models.ChatAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.chats[chatID]; cs != nil {
		return slices.Clone(cs.actions)
	}
	return nil
}

// CallbackAnswers returns the successful answerCallbackQuery calls in order.
func (s *Server) CallbackAnswers() []CallbackAnswer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.answers)
}

// Commands returns the command list from the latest successful
// setMyCommands call, whatever its scope and language.
func (s *Server) Commands() []models.BotCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.commands)
}

// Calls counts the requests for method (case-insensitive) made with the
// right token, including those answered with an error.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[strings.ToLower(method)]
}

// Poll is a getUpdates call the fake answered, with updates or none (calls
// answered with an error are only counted by [Server.Calls]).
type Poll struct {
	Timeout time.Duration // how long the bot asked to wait
	Updates int           // how many updates the answer held
}

// Polls returns the getUpdates calls answered so far, in order. A poll is
// recorded just before its answer is written.
func (s *Server) Polls() []Poll {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.polls)
}

// Pending returns how many updates are queued and not yet confirmed by a
// getUpdates call with a higher offset.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// Patience is how long a test waits for the bot to act before it fails:
// long, because a loaded machine can be slow by many seconds, while a test
// that passes never waits it out.
const Patience = time.Minute

// WaitFor calls cond whenever the fake's state changes (a request arrives,
// a message is sent, an update is queued, …) until it returns true, and
// returns an error if that does not happen within timeout. cond runs without
// the fake's lock held, so it may call any Server method.
func (s *Server) WaitFor(timeout time.Duration, cond func() bool) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			if cond() {
				return nil
			}
			return fmt.Errorf("fakeapi: condition not met within %v", timeout)
		}
	}
}

// WaitSent waits until the bot has done at least n actions in the chat (see
// [Server.Sent]) and returns them all. On timeout the error lists what was
// done.
func (s *Server) WaitSent(chatID int64, n int, timeout time.Duration) ([]Action, error) {
	err := s.WaitFor(timeout, func() bool { return len(s.Sent(chatID)) >= n })
	sent := s.Sent(chatID)
	if err != nil {
		var b strings.Builder
		for _, a := range sent {
			fmt.Fprintf(&b, "\n\t%s #%d %q", a.Method, a.MessageID, a.Text)
		}
		return sent, fmt.Errorf("fakeapi: chat %d: %d actions within %v, want %d:%s", chatID, len(sent), timeout, n, b.String())
	}
	return sent, nil
}

// ---------------------------------------------------------------------------
// Fault injection.

// FailNext makes the next n calls of method (case-insensitive; "" means any
// method, getUpdates included) answer f instead of running. Rules are
// consumed in the order they were added. Injected failures take effect
// before any validation and record nothing but the call count.
func (s *Server) FailNext(method string, n int, f Failure) {
	s.tb.Helper()
	s.addFailure(&failureRule{method: strings.ToLower(method), left: n, f: f})
}

// FailNextInChat is [Server.FailNext] limited to calls about one chat: those
// whose chat_id names it, and answerCallbackQuery for queries from it.
func (s *Server) FailNextInChat(chatID int64, method string, n int, f Failure) {
	s.tb.Helper()
	s.addFailure(&failureRule{method: strings.ToLower(method), chatID: &chatID, left: n, f: f})
}

// DropNext makes the next n calls of method (case-insensitive; "" means any
// method) fail as the network does: the fake reads the request and closes
// the connection without answering, so the client gets an error such as
// EOF or "connection reset", not an HTTP status. Rules are consumed with
// those of [Server.FailNext], in the order they were added.
func (s *Server) DropNext(method string, n int) {
	s.tb.Helper()
	s.addFailure(&failureRule{method: strings.ToLower(method), left: n, drop: true, f: ServerError(http.StatusBadGateway)})
}

func (s *Server) addFailure(r *failureRule) {
	s.tb.Helper()
	if r.f.Code < 400 || r.f.Code > 599 || r.left <= 0 {
		s.tb.Fatalf("fakeapi: FailNext needs n > 0 and a 4xx/5xx code, got n=%d code=%d", r.left, r.f.Code)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, r)
}

// takeFailureLocked consumes the first rule matching the call and returns
// its failure, and whether to drop the connection instead.
func (s *Server) takeFailureLocked(method string, p params) (*Failure, bool) {
	for i, r := range s.failures {
		if r.method != "" && r.method != method {
			continue
		}
		if r.chatID != nil {
			if id, ok := s.requestChatLocked(p); !ok || id != *r.chatID {
				continue
			}
		}
		r.left--
		if r.left == 0 {
			s.failures = slices.Delete(s.failures, i, i+1)
		}
		f := r.f
		return &f, r.drop
	}
	return nil, false
}

// requestChatLocked returns the chat a request is about, if any.
func (s *Server) requestChatLocked(p params) (int64, bool) {
	if v := p.get("chat_id"); v != "" {
		if cs, f := s.findChatLocked(v); f == nil {
			return cs.info.ID, true
		}
		id, err := strconv.ParseInt(v, 10, 64)
		return id, err == nil
	}
	if q := s.queries[p.get("callback_query_id")]; q != nil {
		return q.chatID, true
	}
	return 0, false
}

// ---------------------------------------------------------------------------
// HTTP.

type handlerFunc func(ctx context.Context, p params) (any, *Failure)

func (s *Server) handler(method string) handlerFunc {
	switch method {
	case "getme":
		return s.getMe
	case "deletewebhook":
		return s.deleteWebhook
	case "setwebhook":
		return s.setWebhook
	case "getwebhookinfo":
		return s.getWebhookInfo
	case "setmycommands":
		return s.setMyCommands
	case "getupdates":
		return s.getUpdates
	case "sendmessage":
		return s.sendMessage
	case "editmessagetext":
		return s.editMessageText
	case "editmessagereplymarkup":
		return s.editMessageReplyMarkup
	case "deletemessage":
		return s.deleteMessage
	case "answercallbackquery":
		return s.answerCallbackQuery
	case "sendchataction":
		return s.sendChatAction
	case "getfile":
		return s.getFile
	}
	return nil
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok {
		s.serveFile(w, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" || strings.Contains(method, "/") {
		writeFailure(w, Failure{Code: http.StatusNotFound, Description: "Not Found"})
		return
	}
	if token != s.token {
		writeFailure(w, Failure{Code: http.StatusUnauthorized, Description: "Unauthorized"})
		return
	}
	key := strings.ToLower(method)
	h := s.handler(key)
	p, parseErr := readParams(r)

	s.mu.Lock()
	s.calls[key]++
	s.notifyLocked()
	var injected *Failure
	drop := false
	if h != nil && parseErr == nil {
		injected, drop = s.takeFailureLocked(key, p)
		if injected == nil {
			injected = s.blockedLocked(p)
		}
	}
	s.mu.Unlock()

	switch {
	case drop:
		dropConnection(w)
	case h == nil:
		s.tb.Logf("fakeapi: method %q is not implemented; answering 404 Not Found", method)
		writeFailure(w, Failure{Code: http.StatusNotFound, Description: "Not Found"})
	case parseErr != nil:
		writeFailure(w, BadRequest(parseErr.Error()))
	case injected != nil:
		writeFailure(w, *injected)
	default:
		result, f := h(r.Context(), p)
		if f != nil {
			writeFailure(w, *f)
			return
		}
		writeJSON(w, http.StatusOK, envelope{OK: true, Result: result})
	}
}

// dropConnection closes the request's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: the stream is reset instead
	}
	conn.Close()
}

type envelope struct {
	OK          bool           `json:"ok"`
	Result      any            `json:"result,omitempty"`
	ErrorCode   int            `json:"error_code,omitempty"`
	Description string         `json:"description,omitempty"`
	Parameters  *failureParams `json:"parameters,omitempty"`
}

type failureParams struct {
	RetryAfter      int   `json:"retry_after,omitempty"`
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
}

func writeFailure(w http.ResponseWriter, f Failure) {
	env := envelope{ErrorCode: f.Code, Description: f.Description}
	if f.RetryAfter > 0 || f.MigrateToChatID != 0 {
		env.Parameters = &failureParams{RetryAfter: f.RetryAfter, MigrateToChatID: f.MigrateToChatID}
	}
	writeJSON(w, f.Code, env)
}

func writeJSON(w http.ResponseWriter, status int, env envelope) {
	body, err := json.Marshal(env)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(envelope{ErrorCode: status, Description: "Internal Server Error: fakeapi: encode result: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// params holds request parameters. Scalars are plain strings; structured
// values (reply_markup, entities, …) are JSON text.
type params map[string]string

func (p params) get(key string) string { return p[key] }

func (p params) has(key string) bool {
	v, ok := p[key]
	return ok && v != "" && v != "null"
}

// integer returns the integer parameter key, or def when it is absent.
func (p params) integer(key string, def int64) (int64, error) {
	if !p.has(key) {
		return def, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(p[key]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parameter %q must be an integer, got %q", key, p[key])
	}
	return v, nil
}

// flag reports whether the parameter key is true ("true", "1", …).
func (p params) flag(key string) bool {
	v, _ := strconv.ParseBool(strings.TrimSpace(p[key]))
	return v
}

// decode unmarshals the JSON parameter key into dst. A JSON string holding
// JSON (double encoding, as some clients send in JSON bodies) is unwrapped.
func (p params) decode(key string, dst any) error {
	raw := strings.TrimSpace(p[key])
	if strings.HasPrefix(raw, `"`) {
		var inner string
		if err := json.Unmarshal([]byte(raw), &inner); err == nil {
			raw = inner
		}
	}
	return json.Unmarshal([]byte(raw), dst)
}

// readParams collects query parameters and the body parameters of a
// multipart, urlencoded or JSON request. Uploaded files are ignored.
func readParams(r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodySize))
	if err != nil {
		return nil, fmt.Errorf("can't read request body: %v", err)
	}
	ct := r.Header.Get("Content-Type")
	// go-telegram/bot sends a multipart Content-Type with an empty body
	// when a method has no parameters; Telegram accepts that.
	if ct == "" || len(body) == 0 {
		return p, nil
	}
	mediaType, mediaParams, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("bad Content-Type %q: %v", ct, err)
	}
	switch mediaType {
	case "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(body), mediaParams["boundary"]).ReadForm(maxBodySize)
		if err != nil {
			return nil, fmt.Errorf("can't parse multipart body: %v", err)
		}
		defer func() { _ = form.RemoveAll() }()
		for k, v := range form.Value {
			p[k] = v[0]
		}
	case "application/x-www-form-urlencoded":
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fmt.Errorf("can't parse urlencoded body: %v", err)
		}
		for k, v := range values {
			p[k] = v[0]
		}
	case "application/json":
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, fmt.Errorf("can't parse JSON body: %v", err)
		}
		for k, raw := range fields {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				p[k] = str
			} else {
				p[k] = string(raw) // number, bool, object, array or null
			}
		}
	}
	return p, nil
}

// ---------------------------------------------------------------------------
// Methods.

func (s *Server) getMe(context.Context, params) (any, *Failure) {
	u := s.bot
	return &u, nil
}

// deleteWebhook removes the webhook, so that getUpdates works again.
func (s *Server) deleteWebhook(_ context.Context, p params) (any, *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhook = models.WebhookInfo{}
	if p.flag("drop_pending_updates") {
		s.updates = nil
	}
	s.notifyLocked()
	return true, nil
}

// setWebhook records the webhook a bot registers; an empty url removes it,
// as deleteWebhook does. The fake does not post to it: a test plays
// Telegram's deliveries itself. A poll waiting meanwhile is ended with 409.
func (s *Server) setWebhook(_ context.Context, p params) (any, *Failure) {
	url := p.get("url")
	if url != "" && !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://127.0.0.1") {
		return nil, fail(BadRequest("Bad Request: bad webhook: An HTTPS URL must be provided for webhook"))
	}
	info := models.WebhookInfo{URL: url}
	if url != "" {
		maxConns, err := p.integer("max_connections", 40)
		if err != nil {
			return nil, fail(BadRequest(err.Error()))
		}
		info.MaxConnections = int(maxConns)
		if p.has("allowed_updates") {
			if err := p.decode("allowed_updates", &info.AllowedUpdates); err != nil {
				return nil, fail(BadRequest("can't parse allowed_updates JSON array"))
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhook = info
	if info.AllowedUpdates != nil {
		s.allowed = info.AllowedUpdates
	}
	if p.flag("drop_pending_updates") {
		s.updates = nil
	}
	s.notifyLocked()
	return true, nil
}

// getWebhookInfo answers what setWebhook recorded: the URL ("" when the
// bot polls), the updates waiting, and the webhook's settings.
func (s *Server) getWebhookInfo(context.Context, params) (any, *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.webhook
	info.AllowedUpdates = slices.Clone(info.AllowedUpdates)
	info.PendingUpdateCount = len(s.updates)
	return &info, nil
}

// Webhook returns the URL the bot registered with setWebhook; "" when none
// is set.
func (s *Server) Webhook() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhook.URL
}

// SetWebhook sets (or, with "", removes) the webhook as if another program
// using the bot's token had called setWebhook: a bot that polls finds
// getUpdates answering 409 Conflict until it removes the webhook.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhook = models.WebhookInfo{URL: url}
	if url != "" {
		s.webhook.MaxConnections = 40
	}
	s.notifyLocked()
}

func (s *Server) setMyCommands(_ context.Context, p params) (any, *Failure) {
	var cmds []models.BotCommand
	if err := p.decode("commands", &cmds); err != nil {
		return nil, fail(BadRequest("can't parse commands JSON object"))
	}
	for _, c := range cmds {
		if !validCommand(c.Command) {
			return nil, fail(BadRequest("BOT_COMMAND_INVALID"))
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(c.Description)); n == 0 || n > 256 {
			return nil, fail(BadRequest("BOT_COMMAND_DESCRIPTION_INVALID"))
		}
	}
	s.mu.Lock()
	s.commands = cmds
	s.notifyLocked()
	s.mu.Unlock()
	return true, nil
}

// validCommand reports whether c is 1–32 lower-case letters, digits or
// underscores.
func validCommand(c string) bool {
	if c == "" || len(c) > 32 {
		return false
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func (s *Server) getUpdates(ctx context.Context, p params) (result any, f *Failure) {
	offset, err := p.integer("offset", 0)
	if err != nil {
		return nil, fail(BadRequest(err.Error()))
	}
	limit, err := p.integer("limit", maxUpdatesLimit)
	if err != nil {
		return nil, fail(BadRequest(err.Error()))
	}
	limit = min(max(limit, 1), maxUpdatesLimit)
	// Telegram takes whole seconds; fractions are accepted so that tests
	// talking raw HTTP can poll briefly.
	seconds, _ := strconv.ParseFloat(strings.TrimSpace(p.get("timeout")), 64)
	var allowed []string
	if p.has("allowed_updates") {
		if err := p.decode("allowed_updates", &allowed); err != nil {
			return nil, fail(BadRequest("can't parse allowed_updates JSON array"))
		}
	}

	wait := time.Duration(max(seconds, 0) * float64(time.Second))
	timer := time.NewTimer(wait)
	defer timer.Stop()
	defer func() {
		if f == nil {
			s.mu.Lock()
			s.polls = append(s.polls, Poll{Timeout: wait, Updates: len(result.([]json.RawMessage))})
			s.notifyLocked()
			s.mu.Unlock()
		}
	}()

	s.mu.Lock()
	if s.webhook.URL != "" {
		s.mu.Unlock()
		return nil, &Failure{Code: http.StatusConflict, Description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}
	}
	if p.has("allowed_updates") {
		s.allowed = allowed
	}
	s.pollGen++
	gen := s.pollGen
	s.notifyLocked() // a poll still waiting is now superseded
	s.confirmLocked(offset)
	for {
		if s.pollGen != gen {
			s.mu.Unlock()
			return nil, &Failure{Code: http.StatusConflict, Description: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
		}
		if s.webhook.URL != "" {
			s.mu.Unlock()
			return nil, &Failure{Code: http.StatusConflict, Description: "Conflict: terminated by setWebhook request"}
		}
		if ups := s.deliverableLocked(int(limit)); len(ups) > 0 {
			s.mu.Unlock()
			return ups, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			return []json.RawMessage{}, nil
		case <-ctx.Done():
			return []json.RawMessage{}, nil
		case <-s.closed:
			return []json.RawMessage{}, nil
		}
		s.mu.Lock()
	}
}

// confirmLocked drops the updates confirmed by offset: those with a lower id
// or, for a negative offset, all but the last -offset ones.
func (s *Server) confirmLocked(offset int64) {
	switch {
	case offset > 0:
		i := 0
		for i < len(s.updates) && s.updates[i].id < offset {
			i++
		}
		s.updates = s.updates[i:]
	case offset < 0:
		if keep := int(-offset); keep < len(s.updates) {
			s.updates = s.updates[len(s.updates)-keep:]
		}
	}
}

// deliverableLocked drops queued updates of kinds the bot did not ask for
// and returns up to limit of the rest.
func (s *Server) deliverableLocked(limit int) []json.RawMessage {
	kept := s.updates[:0]
	var out []json.RawMessage
	for _, u := range s.updates {
		if !s.allowedLocked(u.kind) {
			continue
		}
		kept = append(kept, u)
		if len(out) < limit {
			out = append(out, u.json)
		}
	}
	clear(s.updates[len(kept):])
	s.updates = kept
	return out
}

func (s *Server) allowedLocked(kind string) bool {
	if len(s.allowed) == 0 {
		return kind != models.AllowedUpdateChatMember &&
			kind != models.AllowedUpdateMessageReaction &&
			kind != models.AllowedUpdateMessageReactionCount
	}
	return slices.Contains(s.allowed, kind)
}

// updateKind names the update's kind as allowed_updates does.
func updateKind(u *models.Update) string {
	switch {
	case u.Message != nil:
		return models.AllowedUpdateMessage
	case u.EditedMessage != nil:
		return models.AllowedUpdateEditedMessage
	case u.ChannelPost != nil:
		return models.AllowedUpdateChannelPost
	case u.EditedChannelPost != nil:
		return models.AllowedUpdateEditedChannelPost
	case u.BusinessConnection != nil:
		return models.AllowedUpdateBusinessConnection
	case u.BusinessMessage != nil:
		return models.AllowedUpdateBusinessMessage
	case u.EditedBusinessMessage != nil:
		return models.AllowedUpdateEditedBusinessMessage
	case u.DeletedBusinessMessages != nil:
		return models.AllowedUpdateDeletedBusinessMessages
	case u.MessageReaction != nil:
		return models.AllowedUpdateMessageReaction
	case u.MessageReactionCount != nil:
		return models.AllowedUpdateMessageReactionCount
	case u.InlineQuery != nil:
		return models.AllowedUpdateInlineQuery
	case u.ChosenInlineResult != nil:
		return models.AllowedUpdateChosenInlineResult
	case u.CallbackQuery != nil:
		return models.AllowedUpdateCallbackQuery
	case u.ShippingQuery != nil:
		return models.AllowedUpdateShippingQuery
	case u.PreCheckoutQuery != nil:
		return models.AllowedUpdatePreCheckoutQuery
	case u.PurchasedPaidMedia != nil:
		return models.AllowedUpdatePurchasedPaidMedia
	case u.Poll != nil:
		return models.AllowedUpdatePoll
	case u.PollAnswer != nil:
		return models.AllowedUpdatePollAnswer
	case u.MyChatMember != nil:
		return models.AllowedUpdateMyChatMember
	case u.ChatMember != nil:
		return models.AllowedUpdateChatMember
	case u.ChatJoinRequest != nil:
		return models.AllowedUpdateChatJoinRequest
	case u.ChatBoost != nil:
		return models.AllowedUpdateChatBoost
	case u.RemovedChatBoost != nil:
		return models.AllowedUpdateRemovedChatBoost
	}
	return ""
}

func (s *Server) sendMessage(_ context.Context, p params) (any, *Failure) {
	text, f := readText(p)
	if f != nil {
		return nil, f
	}
	mk, f := readMarkup(p)
	if f != nil {
		return nil, f
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	cs, f := s.findChatLocked(p.get("chat_id"))
	if f != nil {
		return nil, f
	}
	replyTo, f := s.replyTargetLocked(cs, p)
	if f != nil {
		return nil, f
	}
	now := time.Now()
	if f := s.admitSendLocked(now); f != nil {
		s.notifyLocked()
		return nil, f
	}
	cs.lastID++
	bot := s.bot
	msg := models.Message{
		ID:                  cs.lastID,
		From:                &bot,
		Date:                int(now.Unix()),
		Chat:                cs.info,
		ReplyToMessage:      replyTo,
		HasProtectedContent: p.flag("protect_content"),
		Text:                text.text,
		Entities:            text.entities,
		ReplyMarkup:         mk.inlineMarkup(),
	}
	cs.messages[msg.ID] = &storedMessage{msg: msg, byBot: true}
	s.recordLocked(cs, "sendMessage", p, &msg, mk.raw, now)
	return cloneMessage(&msg), nil
}

// replyTargetLocked resolves reply_parameters (or the older
// reply_to_message_id) to a snapshot of the replied message.
func (s *Server) replyTargetLocked(cs *chatState, p params) (*models.Message, *Failure) {
	var rp models.ReplyParameters
	switch {
	case p.has("reply_parameters"):
		if err := p.decode("reply_parameters", &rp); err != nil {
			return nil, fail(BadRequest("can't parse reply parameters JSON object"))
		}
	case p.has("reply_to_message_id"):
		id, err := p.integer("reply_to_message_id", 0)
		if err != nil {
			return nil, fail(BadRequest(err.Error()))
		}
		rp.MessageID = int(id)
		rp.AllowSendingWithoutReply = p.flag("allow_sending_without_reply")
	default:
		return nil, nil
	}
	if rp.MessageID == 0 {
		return nil, nil
	}
	if sm := cs.messages[rp.MessageID]; sm != nil {
		m := *cloneMessage(&sm.msg)
		m.ReplyToMessage = nil // Telegram nests replies one level deep
		return &m, nil
	}
	if rp.AllowSendingWithoutReply {
		return nil, nil
	}
	return nil, fail(BadRequest("message to be replied not found"))
}

func (s *Server) editMessageText(_ context.Context, p params) (any, *Failure) {
	text, f := readText(p)
	if f != nil {
		return nil, f
	}
	mk, f := readMarkup(p)
	if f != nil {
		return nil, f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, sm, f := s.editTargetLocked(p)
	if f != nil {
		return nil, f
	}
	if sm.msg.Text == text.text && reflect.DeepEqual(sm.msg.Entities, text.entities) && sameKeyboard(sm.msg.ReplyMarkup, mk.inline) {
		return nil, fail(notModified())
	}
	sm.msg.Text = text.text
	sm.msg.Entities = text.entities
	sm.msg.ReplyMarkup = mk.inlineMarkup()
	now := time.Now()
	sm.msg.EditDate = int(now.Unix())
	s.recordLocked(cs, "editMessageText", p, &sm.msg, mk.raw, now)
	return cloneMessage(&sm.msg), nil
}

func (s *Server) editMessageReplyMarkup(_ context.Context, p params) (any, *Failure) {
	mk, f := readMarkup(p)
	if f != nil {
		return nil, f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, sm, f := s.editTargetLocked(p)
	if f != nil {
		return nil, f
	}
	if sameKeyboard(sm.msg.ReplyMarkup, mk.inline) {
		return nil, fail(notModified())
	}
	sm.msg.ReplyMarkup = mk.inlineMarkup()
	now := time.Now()
	sm.msg.EditDate = int(now.Unix())
	s.recordLocked(cs, "editMessageReplyMarkup", p, &sm.msg, mk.raw, now)
	return cloneMessage(&sm.msg), nil
}

func notModified() Failure {
	return BadRequest("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of a message")
}

// editTargetLocked finds the bot message an edit request names.
func (s *Server) editTargetLocked(p params) (*chatState, *storedMessage, *Failure) {
	if p.has("inline_message_id") {
		return nil, nil, fail(BadRequest("fakeapi does not support inline messages"))
	}
	cs, f := s.findChatLocked(p.get("chat_id"))
	if f != nil {
		return nil, nil, f
	}
	id, err := p.integer("message_id", 0)
	if err != nil {
		return nil, nil, fail(BadRequest(err.Error()))
	}
	if id == 0 {
		return nil, nil, fail(BadRequest("message identifier is not specified"))
	}
	sm := cs.messages[int(id)]
	if sm == nil {
		return nil, nil, fail(BadRequest("message to edit not found"))
	}
	if !sm.byBot {
		return nil, nil, fail(BadRequest("message can't be edited"))
	}
	return cs, sm, nil
}

func (s *Server) deleteMessage(_ context.Context, p params) (any, *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, f := s.findChatLocked(p.get("chat_id"))
	if f != nil {
		return nil, f
	}
	id, err := p.integer("message_id", 0)
	if err != nil {
		return nil, fail(BadRequest(err.Error()))
	}
	sm := cs.messages[int(id)]
	if sm == nil {
		return nil, fail(BadRequest("message to delete not found"))
	}
	if time.Since(time.Unix(int64(sm.msg.Date), 0)) > maxDeleteAge {
		return nil, fail(BadRequest("message can't be deleted for everyone"))
	}
	delete(cs.messages, int(id))
	cs.deleted = append(cs.deleted, int(id))
	s.recordLocked(cs, "deleteMessage", p, &sm.msg, "", time.Now())
	return true, nil
}

func (s *Server) answerCallbackQuery(_ context.Context, p params) (any, *Failure) {
	id := p.get("callback_query_id")
	cacheTime, err := p.integer("cache_time", 0)
	if err != nil {
		return nil, fail(BadRequest(err.Error()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queries[id]
	if q == nil || q.answered {
		return nil, fail(BadRequest("query is too old and response timeout expired or query ID is invalid"))
	}
	q.answered = true
	s.answers = append(s.answers, CallbackAnswer{
		QueryID:   id,
		ChatID:    q.chatID,
		MessageID: q.messageID,
		Data:      q.data,
		Text:      p.get("text"),
		ShowAlert: p.flag("show_alert"),
		URL:       p.get("url"),
		CacheTime: int(cacheTime),
	})
	s.notifyLocked()
	return true, nil
}

func (s *Server) sendChatAction(_ context.Context, p params) (any, *Failure) {
	action := models.ChatAction(p.get("action"))
	switch action {
	case models.ChatActionTyping, models.ChatActionUploadPhoto, models.ChatActionRecordVideo,
		models.ChatActionUploadVideo, models.ChatActionRecordVoice, models.ChatActionUploadVoice,
		models.ChatActionUploadDocument, models.ChatActionChooseSticker, models.ChatActionFindLocation,
		models.ChatActionRecordVideoNote, models.ChatActionUploadVideoNote:
	default:
		return nil, fail(BadRequest("wrong parameter action in request"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, f := s.findChatLocked(p.get("chat_id"))
	if f != nil {
		return nil, f
	}
	cs.actions = append(cs.actions, action)
	s.notifyLocked()
	return true, nil
}

// ---------------------------------------------------------------------------
// Helpers for the methods.

func fail(f Failure) *Failure { return &f }

// findChatLocked resolves a chat_id parameter: a numeric id or "@username".
func (s *Server) findChatLocked(v string) (*chatState, *Failure) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, fail(BadRequest("chat_id is empty"))
	}
	if name, ok := strings.CutPrefix(v, "@"); ok {
		for _, cs := range s.chats {
			if cs.info.Username != "" && strings.EqualFold(cs.info.Username, name) {
				return cs, nil
			}
		}
		return nil, fail(BadRequest("chat not found"))
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s.chats[id] == nil {
		return nil, fail(BadRequest("chat not found"))
	}
	return s.chats[id], nil
}

// recordLocked appends the action that left msg in its current state; at is
// when the call arrived.
func (s *Server) recordLocked(cs *chatState, method string, p params, msg *models.Message, rawMarkup string, at time.Time) {
	a := Action{
		Method:      method,
		ChatID:      cs.info.ID,
		MessageID:   msg.ID,
		Text:        msg.Text,
		Entities:    slices.Clone(msg.Entities),
		RawText:     p.get("text"),
		ParseMode:   p.get("parse_mode"),
		ReplyMarkup: rawMarkup,
		At:          at,
	}
	if msg.ReplyMarkup != nil {
		a.Keyboard = cloneKeyboard(msg.ReplyMarkup.InlineKeyboard)
	}
	cs.log = append(cs.log, a)
	s.notifyLocked()
}

// messageText is message text after parse mode processing and trimming.
type messageText struct {
	text     string
	entities []models.MessageEntity
}

// readText validates the text, parse_mode and entities parameters the way
// Telegram does and returns the text as the message will show it.
func readText(p params) (messageText, *Failure) {
	raw := p.get("text")
	if !utf8.ValidString(raw) {
		return messageText{}, fail(BadRequest("strings must be encoded in UTF-8"))
	}
	var t messageText
	mode := p.get("parse_mode")
	switch {
	case p.has("entities"):
		if err := p.decode("entities", &t.entities); err != nil {
			return messageText{}, fail(BadRequest("can't parse entities JSON object"))
		}
		t.text = raw
	case strings.EqualFold(mode, string(models.ParseModeHTML)):
		text, entities, err := parseHTML(raw)
		if err != nil {
			return messageText{}, fail(BadRequest("can't parse entities: " + err.Error()))
		}
		t.text, t.entities = text, entities
	case mode == "" || strings.EqualFold(mode, string(models.ParseModeMarkdown)) || strings.EqualFold(mode, string(models.ParseModeMarkdownV1)):
		t.text = raw // simplification: Markdown is not parsed
	default:
		return messageText{}, fail(BadRequest("unsupported parse_mode"))
	}
	t.text, t.entities = trimText(t.text, t.entities)
	if t.text == "" {
		return messageText{}, fail(BadRequest("message text is empty"))
	}
	if utf16Len(t.text) > maxTextLength {
		return messageText{}, fail(BadRequest("message is too long"))
	}
	return t, nil
}

// markup is a validated reply_markup parameter.
type markup struct {
	raw    string                          // as sent; "" when absent
	inline [][]models.InlineKeyboardButton // inline keyboard without empty rows; nil when none
}

func (m markup) inlineMarkup() *models.InlineKeyboardMarkup {
	if m.inline == nil {
		return nil
	}
	return &models.InlineKeyboardMarkup{InlineKeyboard: cloneKeyboard(m.inline)}
}

// readMarkup parses reply_markup. Reply keyboards, keyboard removal and force
// reply are accepted and recorded but, as in Telegram, not attached to the
// message.
func readMarkup(p params) (markup, *Failure) {
	if !p.has("reply_markup") {
		return markup{}, nil
	}
	m := markup{raw: p.get("reply_markup")}
	var fields map[string]json.RawMessage
	if err := p.decode("reply_markup", &fields); err != nil {
		return markup{}, fail(BadRequest("can't parse reply keyboard markup JSON object"))
	}
	rawRows, ok := fields["inline_keyboard"]
	if !ok {
		return m, nil
	}
	var rows [][]models.InlineKeyboardButton
	var present [][]map[string]json.RawMessage // to tell "absent" from ""
	if json.Unmarshal(rawRows, &rows) != nil || json.Unmarshal(rawRows, &present) != nil {
		return markup{}, fail(BadRequest("can't parse inline keyboard button: InlineKeyboardButton must be an Object"))
	}
	for i, row := range rows {
		if len(row) == 0 {
			continue
		}
		for j, b := range row {
			keys := present[i][j]
			if _, ok := keys["callback_data"]; ok && (b.CallbackData == "" || len(b.CallbackData) > maxCallbackData) {
				return markup{}, fail(BadRequest("BUTTON_DATA_INVALID"))
			}
			if !hasAction(b, keys) {
				return markup{}, fail(BadRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"))
			}
		}
		m.inline = append(m.inline, row)
	}
	return m, nil
}

// hasAction reports whether an inline button does something when pressed.
// An empty switch_inline_query is a valid action, hence the key check;
// copy_text with empty text is what go-telegram/bot sends for "none".
func hasAction(b models.InlineKeyboardButton, keys map[string]json.RawMessage) bool {
	_, switchQuery := keys["switch_inline_query"]
	_, switchCurrent := keys["switch_inline_query_current_chat"]
	return b.CallbackData != "" || b.URL != "" || b.WebApp != nil || b.LoginURL != nil ||
		switchQuery || switchCurrent || b.SwitchInlineQueryChosenChat != nil ||
		b.CopyText.Text != "" || b.CallbackGame != nil || b.Pay
}

func sameKeyboard(current *models.InlineKeyboardMarkup, next [][]models.InlineKeyboardButton) bool {
	if current == nil {
		return next == nil
	}
	return reflect.DeepEqual(current.InlineKeyboard, next)
}

func cloneKeyboard(k [][]models.InlineKeyboardButton) [][]models.InlineKeyboardButton {
	if k == nil {
		return nil
	}
	out := make([][]models.InlineKeyboardButton, len(k))
	for i, row := range k {
		out[i] = slices.Clone(row)
	}
	return out
}

// cloneMessage copies m deeply enough that callers cannot alter the fake's
// state through the copy.
func cloneMessage(m *models.Message) *models.Message {
	c := *m
	c.Entities = slices.Clone(m.Entities)
	c.CaptionEntities = slices.Clone(m.CaptionEntities)
	c.Photo = slices.Clone(m.Photo)
	if m.Document != nil {
		d := *m.Document
		c.Document = &d
	}
	if m.Voice != nil {
		v := *m.Voice
		c.Voice = &v
	}
	if m.Video != nil {
		v := *m.Video
		c.Video = &v
	}
	if m.ReplyMarkup != nil {
		c.ReplyMarkup = &models.InlineKeyboardMarkup{InlineKeyboard: cloneKeyboard(m.ReplyMarkup.InlineKeyboard)}
	}
	if m.From != nil {
		from := *m.From
		c.From = &from
	}
	if m.ReplyToMessage != nil {
		c.ReplyToMessage = cloneMessage(m.ReplyToMessage)
	}
	return &c
}
