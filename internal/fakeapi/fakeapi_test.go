package fakeapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
)

const (
	token   = "4242:TEST-secret"
	botID   = 4242
	waitFor = 3 * time.Second
)

var (
	alice     = models.User{ID: 1001, FirstName: "Alice", Username: "alice"}
	aliceChat = models.Chat{ID: 1001, Type: models.ChatTypePrivate, FirstName: "Alice", Username: "alice"}
	bob       = models.User{ID: 1002, FirstName: "Bob"}
	bobChat   = models.Chat{ID: 1002, Type: models.ChatTypePrivate, FirstName: "Bob"}
)

// newClient returns a real go-telegram/bot client talking to s. A poll
// timeout of 2s makes the library ask for 1s long polls, which end at once
// when an update arrives or the bot stops.
func newClient(t *testing.T, s *fakeapi.Server, opts ...bot.Option) *bot.Bot {
	t.Helper()
	base := []bot.Option{
		bot.WithServerURL(s.URL()),
		bot.WithHTTPClient(2*time.Second, &http.Client{Timeout: 5 * time.Second}),
		bot.WithErrorsHandler(func(err error) { t.Logf("bot error: %v", err) }),
	}
	b, err := bot.New(token, append(base, opts...)...)
	if err != nil {
		t.Fatalf("bot.New: %v", err)
	}
	return b
}

// startBot runs b.Start until the test ends.
func startBot(t *testing.T, b *bot.Bot) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Start(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func inlineKeyboard(rows ...[]models.InlineKeyboardButton) *models.InlineKeyboardMarkup {
	return &models.InlineKeyboardMarkup{InlineKeyboard: rows}
}

func TestGetMeReportsTheTokensBot(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	me, err := b.GetMe(t.Context())
	if err != nil {
		t.Fatalf("GetMe: %v", err)
	}
	if me.ID != botID || !me.IsBot || me.Username == "" || *me != s.Bot() {
		t.Fatalf("GetMe = %+v, want bot %d with a username, equal to s.Bot() %+v", me, botID, s.Bot())
	}
}

func TestSendMessageWithInlineKeyboard(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	b := newClient(t, s)
	kb := inlineKeyboard(
		[]models.InlineKeyboardButton{{Text: "Yes", CallbackData: "yes"}, {Text: "No", CallbackData: "no"}},
		[]models.InlineKeyboardButton{{Text: "Docs", URL: "https://example.org"}},
	)

	msg, err := b.SendMessage(t.Context(), &bot.SendMessageParams{
		ChatID:      aliceChat.ID,
		Text:        "<b>Alert</b> &amp; more\n",
		ParseMode:   models.ParseModeHTML,
		ReplyMarkup: kb,
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	wantEntities := []models.MessageEntity{{Type: models.MessageEntityTypeBold, Offset: 0, Length: 5}}
	if msg.ID != 1 || msg.From == nil || msg.From.ID != botID || !msg.From.IsBot || msg.Date == 0 ||
		msg.Chat != aliceChat || msg.Text != "Alert & more" || !reflect.DeepEqual(msg.Entities, wantEntities) {
		t.Fatalf("SendMessage returned %+v", msg)
	}
	if msg.ReplyMarkup == nil || !reflect.DeepEqual(msg.ReplyMarkup.InlineKeyboard, kb.InlineKeyboard) {
		t.Fatalf("returned keyboard = %+v, want %+v", msg.ReplyMarkup, kb)
	}

	// Chats can also be addressed by @username; ids go on per chat.
	second, err := b.SendMessage(t.Context(), &bot.SendMessageParams{ChatID: "@alice", Text: "plain"})
	if err != nil {
		t.Fatalf("SendMessage to @alice: %v", err)
	}
	if second.ID != 2 || second.ReplyMarkup != nil {
		t.Fatalf("second message = %+v, want id 2 without keyboard", second)
	}

	sent := s.Sent(aliceChat.ID)
	if len(sent) != 2 {
		t.Fatalf("Sent = %+v, want 2 actions", sent)
	}
	first := sent[0]
	if first.Method != "sendMessage" || first.MessageID != 1 || first.Text != "Alert & more" ||
		first.RawText != "<b>Alert</b> &amp; more\n" || first.ParseMode != "HTML" ||
		!reflect.DeepEqual(first.Keyboard, kb.InlineKeyboard) || !strings.Contains(first.ReplyMarkup, `"callback_data":"yes"`) {
		t.Fatalf("Sent[0] = %+v", first)
	}
	if got := s.Messages(aliceChat.ID); len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 {
		t.Fatalf("Messages = %+v, want messages 1 and 2", got)
	}
	if n := s.Calls("sendMessage"); n != 2 {
		t.Fatalf("Calls(sendMessage) = %d, want 2", n)
	}
}

// wantBadRequest checks that err is go-telegram/bot's 400 error carrying
// exactly Telegram's description.
func wantBadRequest(t *testing.T, err error, description string) {
	t.Helper()
	if !errors.Is(err, bot.ErrorBadRequest) || !strings.HasSuffix(err.Error(), ", "+description) {
		t.Fatalf("error = %v, want bot.ErrorBadRequest with %q", err, description)
	}
}

func TestEditAndDeleteMessages(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	ctx := t.Context()
	s.SendText(aliceChat, alice, "hello") // message 1, from Alice
	kb := inlineKeyboard([]models.InlineKeyboardButton{{Text: "Yes", CallbackData: "yes"}})
	msg, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "Pick one", ReplyMarkup: kb})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	if msg.ID != 2 {
		t.Fatalf("bot message id = %d, want 2 (ids are shared with the user's messages)", msg.ID)
	}

	edited, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: aliceChat.ID, MessageID: msg.ID, Text: "Picked: yes"})
	if err != nil {
		t.Fatalf("EditMessageText: %v", err)
	}
	if edited.Text != "Picked: yes" || edited.ReplyMarkup != nil || edited.EditDate == 0 {
		t.Fatalf("edited = %+v, want new text, keyboard removed, edit_date set", edited)
	}

	kb2 := inlineKeyboard([]models.InlineKeyboardButton{{Text: "Undo", CallbackData: "undo"}})
	if _, err := b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: aliceChat.ID, MessageID: msg.ID, ReplyMarkup: kb2}); err != nil {
		t.Fatalf("EditMessageReplyMarkup: %v", err)
	}
	current := s.Messages(aliceChat.ID)
	if len(current) != 1 || current[0].Text != "Picked: yes" || !reflect.DeepEqual(current[0].ReplyMarkup, kb2) {
		t.Fatalf("Messages = %+v, want the edited message with the Undo keyboard", current)
	}

	notModified := "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of a message"
	errorCases := []struct {
		name string
		call func() error
		want string
	}{
		{"same text and markup", func() error {
			_, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: aliceChat.ID, MessageID: msg.ID, Text: "Picked: yes", ReplyMarkup: kb2})
			return err
		}, notModified},
		{"same markup", func() error {
			_, err := b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: aliceChat.ID, MessageID: msg.ID, ReplyMarkup: kb2})
			return err
		}, notModified},
		{"missing message", func() error {
			_, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: aliceChat.ID, MessageID: 99, Text: "x"})
			return err
		}, "Bad Request: message to edit not found"},
		{"user's message", func() error {
			_, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: aliceChat.ID, MessageID: 1, Text: "x"})
			return err
		}, "Bad Request: message can't be edited"},
		{"message in another chat", func() error {
			_, err := b.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: bobChat.ID, MessageID: msg.ID})
			return err
		}, "Bad Request: chat not found"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) { wantBadRequest(t, tc.call(), tc.want) })
	}

	if ok, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: aliceChat.ID, MessageID: msg.ID}); err != nil || !ok {
		t.Fatalf("DeleteMessage = %v, %v", ok, err)
	}
	if got := s.Messages(aliceChat.ID); len(got) != 0 {
		t.Fatalf("Messages after delete = %+v, want none", got)
	}
	_, err = b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: aliceChat.ID, MessageID: msg.ID})
	wantBadRequest(t, err, "Bad Request: message to delete not found")
	_, err = b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: aliceChat.ID, MessageID: msg.ID, Text: "again"})
	wantBadRequest(t, err, "Bad Request: message to edit not found")

	var methods []string
	for _, a := range s.Sent(aliceChat.ID) {
		methods = append(methods, fmt.Sprintf("%s#%d", a.Method, a.MessageID))
	}
	want := []string{"sendMessage#2", "editMessageText#2", "editMessageReplyMarkup#2", "deleteMessage#2"}
	if !reflect.DeepEqual(methods, want) {
		t.Fatalf("Sent = %v, want %v", methods, want)
	}
}

func TestSendMessageValidation(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	b := newClient(t, s)

	button := func(data string) models.ReplyMarkup {
		return inlineKeyboard([]models.InlineKeyboardButton{{Text: "b", CallbackData: data}})
	}
	tests := []struct {
		name   string
		params bot.SendMessageParams
		want   string // Telegram's description; "" means accepted
	}{
		{"4096 ASCII characters", bot.SendMessageParams{Text: strings.Repeat("a", 4096)}, ""},
		{"4096 Cyrillic letters are 8192 bytes", bot.SendMessageParams{Text: strings.Repeat("ж", 4096)}, ""},
		{"2048 emoji are 4096 UTF-16 units", bot.SendMessageParams{Text: strings.Repeat("😀", 2048)}, ""},
		{"tags do not count", bot.SendMessageParams{Text: "<b>" + strings.Repeat("a", 4096) + "</b>", ParseMode: models.ParseModeHTML}, ""},
		{"64-byte callback data", bot.SendMessageParams{Text: "x", ReplyMarkup: button(strings.Repeat("d", 64))}, ""},
		{"reply keyboard", bot.SendMessageParams{Text: "x", ReplyMarkup: &models.ReplyKeyboardMarkup{Keyboard: [][]models.KeyboardButton{{{Text: "Hi"}}}}}, ""},
		{"paid broadcast", bot.SendMessageParams{Text: "<b>x</b>", ParseMode: models.ParseModeHTML, AllowPaidBroadcast: true}, ""},
		{"4097 ASCII characters", bot.SendMessageParams{Text: strings.Repeat("a", 4097)}, "Bad Request: message is too long"},
		{"2049 emoji", bot.SendMessageParams{Text: strings.Repeat("😀", 2049)}, "Bad Request: message is too long"},
		{"empty text", bot.SendMessageParams{Text: ""}, "Bad Request: message text is empty"},
		{"only white space", bot.SendMessageParams{Text: " \n\t "}, "Bad Request: message text is empty"},
		{"only markup", bot.SendMessageParams{Text: "<b> </b>", ParseMode: models.ParseModeHTML}, "Bad Request: message text is empty"},
		{"65-byte callback data", bot.SendMessageParams{Text: "x", ReplyMarkup: button(strings.Repeat("d", 65))}, "Bad Request: BUTTON_DATA_INVALID"},
		{"button without action", bot.SendMessageParams{Text: "x", ReplyMarkup: inlineKeyboard([]models.InlineKeyboardButton{{Text: "b"}})},
			"Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"},
		{"unknown chat", bot.SendMessageParams{ChatID: 999, Text: "x"}, "Bad Request: chat not found"},
		{"unknown username", bot.SendMessageParams{ChatID: "@nobody", Text: "x"}, "Bad Request: chat not found"},
		{"unsupported tag", bot.SendMessageParams{Text: "line<br>next", ParseMode: models.ParseModeHTML},
			`Bad Request: can't parse entities: Unsupported start tag "br" at byte offset 4`},
		{"unescaped less-than", bot.SendMessageParams{Text: "a < b", ParseMode: models.ParseModeHTML},
			`Bad Request: can't parse entities: Unsupported start tag "" at byte offset 2`},
		{"unclosed tag", bot.SendMessageParams{Text: "<b>bold", ParseMode: models.ParseModeHTML},
			`Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`},
		{"crossed tags", bot.SendMessageParams{Text: "<b><i>x</b></i>", ParseMode: models.ParseModeHTML},
			`Bad Request: can't parse entities: Unmatched end tag at byte offset 7, expected "</i>", found "</b>"`},
		{"unknown parse mode", bot.SendMessageParams{Text: "x", ParseMode: "Textile"}, "Bad Request: unsupported parse_mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.params
			if p.ChatID == nil {
				p.ChatID = aliceChat.ID
			}
			before := len(s.Sent(aliceChat.ID))
			_, err := b.SendMessage(t.Context(), &p)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("SendMessage: %v", err)
				}
				return
			}
			wantBadRequest(t, err, tc.want)
			if after := len(s.Sent(aliceChat.ID)); after != before {
				t.Fatalf("a rejected message was recorded: %d actions, had %d", after, before)
			}
		})
	}
}

func TestHTMLBecomesTextAndEntities(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	b := newClient(t, s)
	msg, err := b.SendMessage(t.Context(), &bot.SendMessageParams{
		ChatID:    aliceChat.ID,
		Text:      `😀 <a href="https://x.org/?a=1&amp;b=2">link</a> <pre><code class="language-go">go</code></pre> <span class="tg-spoiler">s</span> &#65;&lt;&unknown;`,
		ParseMode: models.ParseModeHTML,
	})
	if err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	wantText := "😀 link go s A<&unknown;"
	want := []models.MessageEntity{
		{Type: models.MessageEntityTypeTextLink, Offset: 3, Length: 4, URL: "https://x.org/?a=1&b=2"},
		{Type: models.MessageEntityTypePre, Offset: 8, Length: 2, Language: "go"},
		{Type: models.MessageEntityTypeSpoiler, Offset: 11, Length: 1},
	}
	if msg.Text != wantText || !reflect.DeepEqual(msg.Entities, want) {
		t.Fatalf("got %q %+v\nwant %q %+v", msg.Text, msg.Entities, wantText, want)
	}
}

// TestConversation plays a whole exchange through b.Start: a command, a
// reply with buttons, a button press, the answer and an edit.
func TestConversation(t *testing.T) {
	s := fakeapi.New(t, token)
	seen := make(chan *models.Update, 10)
	handler := func(ctx context.Context, b *bot.Bot, u *models.Update) {
		seen <- u
		switch {
		case u.Message != nil && u.Message.Text == "/start":
			_, _ = b.SendMessage(ctx, &bot.SendMessageParams{
				ChatID: u.Message.Chat.ID,
				Text:   "Are you safe?",
				ReplyMarkup: inlineKeyboard([]models.InlineKeyboardButton{
					{Text: "Yes", CallbackData: "safe:yes"}, {Text: "No", CallbackData: "safe:no"},
				}),
			})
		case u.CallbackQuery != nil:
			q := u.CallbackQuery
			_, _ = b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: "Noted", ShowAlert: true})
			_, _ = b.EditMessageText(ctx, &bot.EditMessageTextParams{
				ChatID: q.Message.Message.Chat.ID, MessageID: q.Message.Message.ID, Text: "Answer: " + q.Data,
			})
		}
	}
	b := newClient(t, s, bot.WithDefaultHandler(handler), bot.WithNotAsyncHandlers())
	startBot(t, b)

	updateID := s.SendText(aliceChat, alice, "/start")
	u := <-seen
	wantEntities := []models.MessageEntity{{Type: models.MessageEntityTypeBotCommand, Offset: 0, Length: 6}}
	if u.ID != updateID || u.Message == nil || u.Message.ID != 1 || u.Message.From.ID != alice.ID ||
		u.Message.Chat != aliceChat || !reflect.DeepEqual(u.Message.Entities, wantEntities) {
		t.Fatalf("first update = %+v (message %+v)", u, u.Message)
	}

	sent, err := s.WaitSent(aliceChat.ID, 1, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	question := s.Messages(aliceChat.ID)[0]
	if sent[0].Text != "Are you safe?" || question.ID != 2 || len(question.ReplyMarkup.InlineKeyboard[0]) != 2 {
		t.Fatalf("bot replied %+v, message %+v", sent[0], question)
	}

	queryID := s.PressButton(aliceChat, alice, question.ID, question.ReplyMarkup.InlineKeyboard[0][1].CallbackData)
	u = <-seen
	q := u.CallbackQuery
	if q == nil || q.ID != queryID || q.Data != "safe:no" || q.From.ID != alice.ID ||
		q.Message.Type != models.MaybeInaccessibleMessageTypeMessage || q.Message.Message.ID != question.ID ||
		!reflect.DeepEqual(q.Message.Message.ReplyMarkup, question.ReplyMarkup) {
		t.Fatalf("callback update = %+v", u)
	}

	sent, err = s.WaitSent(aliceChat.ID, 2, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	if sent[1].Method != "editMessageText" || sent[1].Text != "Answer: safe:no" || sent[1].Keyboard != nil {
		t.Fatalf("second action = %+v", sent[1])
	}
	answers := s.CallbackAnswers()
	want := []fakeapi.CallbackAnswer{{QueryID: queryID, ChatID: aliceChat.ID, MessageID: question.ID, Data: "safe:no", Text: "Noted", ShowAlert: true}}
	if !reflect.DeepEqual(answers, want) {
		t.Fatalf("CallbackAnswers = %+v, want %+v", answers, want)
	}
	_, err = b.AnswerCallbackQuery(t.Context(), &bot.AnswerCallbackQueryParams{CallbackQueryID: queryID})
	wantBadRequest(t, err, "Bad Request: query is too old and response timeout expired or query ID is invalid")

	// The library's next poll (offset = last id + 1) confirms both updates.
	if err := s.WaitFor(waitFor, func() bool { return s.Pending() == 0 }); err != nil {
		t.Fatalf("updates never confirmed: %v (pending %d)", err, s.Pending())
	}
}

func TestMoreMethods(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	ctx := t.Context()
	s.SendText(aliceChat, alice, "hi")

	if ok, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: aliceChat.ID, Action: models.ChatActionTyping}); err != nil || !ok {
		t.Fatalf("SendChatAction = %v, %v", ok, err)
	}
	_, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: aliceChat.ID, Action: "dancing"})
	wantBadRequest(t, err, "Bad Request: wrong parameter action in request")
	if got := s.ChatActions(aliceChat.ID); !reflect.DeepEqual(got, []models.ChatAction{models.ChatActionTyping}) {
		t.Fatalf("ChatActions = %v", got)
	}

	cmds := []models.BotCommand{{Command: "start", Description: "Start"}, {Command: "help", Description: "Help"}}
	if _, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: cmds}); err != nil {
		t.Fatalf("SetMyCommands: %v", err)
	}
	if got := s.Commands(); !reflect.DeepEqual(got, cmds) {
		t.Fatalf("Commands = %+v", got)
	}
	_, err = b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: []models.BotCommand{{Command: "Start", Description: "x"}}})
	wantBadRequest(t, err, "Bad Request: BOT_COMMAND_INVALID")

	reply, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "re", ReplyParameters: &models.ReplyParameters{MessageID: 1}})
	if err != nil || reply.ReplyToMessage == nil || reply.ReplyToMessage.Text != "hi" {
		t.Fatalf("reply = %+v, %v", reply, err)
	}
	_, err = b.SendMessage(ctx, &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "re", ReplyParameters: &models.ReplyParameters{MessageID: 99}})
	wantBadRequest(t, err, "Bad Request: message to be replied not found")

	if s.Pending() != 1 {
		t.Fatalf("Pending = %d, want 1", s.Pending())
	}
	if ok, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{DropPendingUpdates: true}); err != nil || !ok {
		t.Fatalf("DeleteWebhook = %v, %v", ok, err)
	}
	if s.Pending() != 0 {
		t.Fatalf("Pending after drop_pending_updates = %d, want 0", s.Pending())
	}
}

func TestInjectedFailures(t *testing.T) {
	tests := []struct {
		name    string
		failure fakeapi.Failure
		check   func(t *testing.T, err error)
	}{
		{"429 flood wait", fakeapi.TooManyRequests(7), func(t *testing.T, err error) {
			var tm *bot.TooManyRequestsError
			if !errors.As(err, &tm) || tm.RetryAfter != 7 || !strings.Contains(tm.Message, "Too Many Requests: retry after 7") {
				t.Fatalf("error = %#v, want *bot.TooManyRequestsError with RetryAfter 7", err)
			}
		}},
		{"403 blocked", fakeapi.Forbidden(), func(t *testing.T, err error) {
			if !errors.Is(err, bot.ErrorForbidden) || !strings.HasSuffix(err.Error(), "Forbidden: bot was blocked by the user") {
				t.Fatalf("error = %v, want bot.ErrorForbidden", err)
			}
		}},
		{"400", fakeapi.BadRequest("chat not found"), func(t *testing.T, err error) {
			wantBadRequest(t, err, "Bad Request: chat not found")
		}},
		{"500", fakeapi.ServerError(500), func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") {
				t.Fatalf("error = %v, want a 500", err)
			}
		}},
		{"502", fakeapi.ServerError(502), func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway") {
				t.Fatalf("error = %v, want a 502", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeapi.New(t, token)
			s.AddChat(aliceChat)
			b := newClient(t, s)
			s.FailNext("sendMessage", 1, tc.failure)
			params := &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "x"}
			_, err := b.SendMessage(t.Context(), params)
			tc.check(t, err)
			if _, err := b.SendMessage(t.Context(), params); err != nil {
				t.Fatalf("the call after the injected failure: %v", err)
			}
			if n, sent := s.Calls("sendMessage"), len(s.Sent(aliceChat.ID)); n != 2 || sent != 1 {
				t.Fatalf("Calls = %d, Sent = %d; want 2 calls, 1 message", n, sent)
			}
		})
	}
}

func TestFailuresPerChat(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	s.AddChat(bobChat)
	b := newClient(t, s)
	s.FailNextInChat(bobChat.ID, "", 2, fakeapi.Forbidden())

	send := func(chatID int64) error {
		_, err := b.SendMessage(t.Context(), &bot.SendMessageParams{ChatID: chatID, Text: "x"})
		return err
	}
	for i, step := range []struct {
		chat      int64
		forbidden bool
	}{{aliceChat.ID, false}, {bobChat.ID, true}, {aliceChat.ID, false}, {bobChat.ID, true}, {bobChat.ID, false}} {
		if err := send(step.chat); errors.Is(err, bot.ErrorForbidden) != step.forbidden || (!step.forbidden && err != nil) {
			t.Fatalf("step %d (chat %d): error %v, want forbidden=%v", i, step.chat, err, step.forbidden)
		}
	}
}

// post sends a raw request and returns the status and body.
func post(t *testing.T, u, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp.StatusCode, string(b)
}

func TestHTTPWireFormat(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	base := s.URL() + "/bot" + token + "/"
	form := url.Values{
		"chat_id":      {"1001"},
		"text":         {"form"},
		"reply_markup": {`{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}`},
	}.Encode()
	s.FailNext("getMe", 1, fakeapi.TooManyRequests(3))

	tests := []struct {
		name, url, contentType, body string
		wantStatus                   int
		wantBody                     string // exact, or a prefix when it ends in "…"
	}{
		{"wrong token", s.URL() + "/bot1:wrong/getMe", "", "", 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`},
		{"unknown method", base + "fly", "", "", 404, `{"ok":false,"error_code":404,"description":"Not Found"}`},
		{"not a bot path", s.URL() + "/status", "", "", 404, `{"ok":false,"error_code":404,"description":"Not Found"}`},
		{"injected 429", base + "getMe", "", "", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`},
		{"case-insensitive method", base + "GETME", "", "", 200, `{"ok":true,"result":{"id":4242,"is_bot":true,…`},
		{"JSON body", base + "sendMessage", "application/json",
			`{"chat_id":1001,"text":"json","reply_markup":{"inline_keyboard":[[{"text":"A","callback_data":"a"}]]}}`,
			200, `{"ok":true,"result":{"message_id":1,"from":{"id":4242,…`},
		{"urlencoded body", base + "sendMessage", "application/x-www-form-urlencoded", form, 200, `{"ok":true,"result":{"message_id":2,…`},
		{"JSON bool result", base + "sendChatAction", "application/json", `{"chat_id":"1001","action":"typing"}`, 200, `{"ok":true,"result":true}`},
		{"JSON error", base + "sendMessage", "application/json", `{"chat_id":1001}`, 400, `{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, tc.url, tc.contentType, tc.body)
			prefix, isPrefix := strings.CutSuffix(tc.wantBody, "…")
			if status != tc.wantStatus || (isPrefix && !strings.HasPrefix(body, prefix)) || (!isPrefix && body != tc.wantBody) {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tc.wantStatus, tc.wantBody)
			}
		})
	}

	want := [][]models.InlineKeyboardButton{{{Text: "A", CallbackData: "a"}}}
	for _, a := range s.Sent(aliceChat.ID) {
		if !reflect.DeepEqual(a.Keyboard, want) {
			t.Fatalf("%q: keyboard %+v, want %+v", a.Text, a.Keyboard, want)
		}
	}
}

// getUpdates polls with a raw JSON request and returns the update ids, or
// the error description.
func getUpdates(t *testing.T, s *fakeapi.Server, body string) ([]int64, string) {
	t.Helper()
	status, resp := post(t, s.URL()+"/bot"+token+"/getUpdates", "application/json", body)
	if status != http.StatusOK {
		return nil, resp
	}
	var ids []int64
	for _, part := range strings.Split(resp, `"update_id":`)[1:] {
		var id int64
		fmt.Sscanf(part, "%d", &id)
		ids = append(ids, id)
	}
	return ids, ""
}

func TestGetUpdatesSemantics(t *testing.T) {
	s := fakeapi.New(t, token)
	for i := range 3 {
		s.SendText(aliceChat, alice, fmt.Sprint("m", i))
	}

	steps := []struct {
		body    string
		want    []int64
		pending int
	}{
		{`{"limit":2}`, []int64{1, 2}, 3},
		{`{"offset":2}`, []int64{2, 3}, 2},
		{`{"offset":-1}`, []int64{3}, 1},
		{`{"offset":4,"timeout":0}`, nil, 0},
	}
	for _, st := range steps {
		got, errDesc := getUpdates(t, s, st.body)
		if errDesc != "" || !reflect.DeepEqual(got, st.want) || s.Pending() != st.pending {
			t.Fatalf("getUpdates %s = %v %s, pending %d; want %v, pending %d", st.body, got, errDesc, s.Pending(), st.want, st.pending)
		}
	}

	t.Run("long poll wakes up on a new update", func(t *testing.T) {
		calls := s.Calls("getUpdates")
		result := make(chan []int64, 1)
		start := time.Now()
		go func() {
			ids, _ := getUpdates(t, s, `{"offset":4,"timeout":5}`)
			result <- ids
		}()
		if err := s.WaitFor(waitFor, func() bool { return s.Calls("getUpdates") > calls }); err != nil {
			t.Fatal(err)
		}
		s.SendText(aliceChat, alice, "late")
		if ids := <-result; !reflect.DeepEqual(ids, []int64{4}) || time.Since(start) > 2*time.Second {
			t.Fatalf("long poll returned %v after %v", ids, time.Since(start))
		}
	})

	t.Run("long poll times out", func(t *testing.T) {
		start := time.Now()
		ids, errDesc := getUpdates(t, s, `{"offset":5,"timeout":0.1}`)
		if elapsed := time.Since(start); ids != nil || errDesc != "" || elapsed < 100*time.Millisecond || elapsed > 2*time.Second {
			t.Fatalf("got %v %q after %v, want an empty result after ~100ms", ids, errDesc, elapsed)
		}
	})

	t.Run("a newer poll terminates an older one", func(t *testing.T) {
		calls := s.Calls("getUpdates")
		older := make(chan string, 1)
		go func() {
			_, errDesc := getUpdates(t, s, `{"offset":5,"timeout":5}`)
			older <- errDesc
		}()
		if err := s.WaitFor(waitFor, func() bool { return s.Calls("getUpdates") > calls }); err != nil {
			t.Fatal(err)
		}
		// The older request is counted when it arrives, a moment before it
		// starts waiting: poll again until it has been superseded.
		want := `{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}`
		deadline := time.After(waitFor)
		for {
			getUpdates(t, s, `{"offset":5,"timeout":0}`)
			select {
			case got := <-older:
				if got != want {
					t.Fatalf("older poll got %s, want %s", got, want)
				}
				return
			case <-deadline:
				t.Fatal("the older poll was never superseded")
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	t.Run("allowed_updates", func(t *testing.T) {
		member := models.Update{ChatMember: &models.ChatMemberUpdated{
			Chat:          aliceChat,
			From:          alice,
			OldChatMember: models.ChatMember{Type: models.ChatMemberTypeLeft, Left: &models.ChatMemberLeft{User: &bob}},
			NewChatMember: models.ChatMember{Type: models.ChatMemberTypeMember, Member: &models.ChatMemberMember{User: &bob}},
		}}
		s.SendUpdate(member) // 5: not delivered by default
		s.SendText(aliceChat, alice, "text")
		if ids, _ := getUpdates(t, s, `{"offset":5}`); !reflect.DeepEqual(ids, []int64{6}) {
			t.Fatalf("default allowed_updates delivered %v, want [6]", ids)
		}
		s.SendUpdate(member) // 7
		if ids, _ := getUpdates(t, s, `{"offset":7,"allowed_updates":["chat_member"]}`); !reflect.DeepEqual(ids, []int64{7}) {
			t.Fatalf("allowed_updates [chat_member] delivered %v, want [7]", ids)
		}
	})
}

// TestConcurrentChats runs many conversations at once through asynchronous
// handlers; with -race it checks the fake's locking.
func TestConcurrentChats(t *testing.T) {
	s := fakeapi.New(t, token)
	handler := func(ctx context.Context, b *bot.Bot, u *models.Update) {
		if u.Message == nil {
			return
		}
		_, _ = b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: u.Message.Chat.ID, Action: models.ChatActionTyping})
		_, _ = b.SendMessage(ctx, &bot.SendMessageParams{ChatID: u.Message.Chat.ID, Text: "echo: " + u.Message.Text})
	}
	b := newClient(t, s, bot.WithDefaultHandler(handler), bot.WithWorkers(4))
	startBot(t, b)

	const chats, perChat = 20, 3
	var wg sync.WaitGroup
	for c := range chats {
		wg.Go(func() {
			user := models.User{ID: int64(2000 + c), FirstName: "U"}
			chat := models.Chat{ID: user.ID, Type: models.ChatTypePrivate}
			for i := range perChat {
				s.SendText(chat, user, fmt.Sprint(i))
			}
		})
	}
	wg.Wait()

	for c := range chats {
		id := int64(2000 + c)
		sent, err := s.WaitSent(id, perChat, waitFor)
		if err != nil {
			t.Fatal(err)
		}
		texts := map[string]bool{}
		for _, a := range sent {
			texts[a.Text] = true
		}
		if len(sent) != perChat || !texts["echo: 0"] || !texts["echo: 1"] || !texts["echo: 2"] {
			t.Fatalf("chat %d: sent %+v", id, sent)
		}
	}
	if err := s.WaitFor(waitFor, func() bool { return s.Calls("sendChatAction") == chats*perChat }); err != nil {
		t.Fatalf("%v: %d chat actions", err, s.Calls("sendChatAction"))
	}
}

func TestWaitSentReportsWhatHappened(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	b := newClient(t, s)
	if _, err := b.SendMessage(t.Context(), &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "only one"}); err != nil {
		t.Fatal(err)
	}
	sent, err := s.WaitSent(aliceChat.ID, 2, 50*time.Millisecond)
	if err == nil || len(sent) != 1 || !strings.Contains(err.Error(), `sendMessage #1 "only one"`) {
		t.Fatalf("WaitSent = %v, %v; want a timeout error listing the one message", sent, err)
	}
}

// ---------------------------------------------------------------------------
// Files.

// download GETs u and returns the status, headers and body.
func download(t *testing.T, u string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", u, err)
	}
	return resp.StatusCode, resp.Header, body
}

// pollUpdates fetches the queued updates with a raw getUpdates call.
func pollUpdates(t *testing.T, s *fakeapi.Server) []models.Update {
	t.Helper()
	status, body := post(t, s.URL()+"/bot"+token+"/getUpdates", "application/json", `{"timeout":0}`)
	var env struct {
		OK     bool            `json:"ok"`
		Result []models.Update `json:"result"`
	}
	if err := json.Unmarshal([]byte(body), &env); status != http.StatusOK || err != nil || !env.OK {
		t.Fatalf("getUpdates: %d %s (%v)", status, body, err)
	}
	return env.Result
}

// fetch gets a file through b.GetFile and b.FileDownloadLink, as a bot does.
func fetch(t *testing.T, b *bot.Bot, fileID string) (*models.File, []byte) {
	t.Helper()
	f, err := b.GetFile(t.Context(), &bot.GetFileParams{FileID: fileID})
	if err != nil {
		t.Fatalf("GetFile(%s): %v", fileID, err)
	}
	status, header, body := download(t, b.FileDownloadLink(f))
	if status != http.StatusOK || header.Get("Content-Type") != "application/octet-stream" ||
		header.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Fatalf("download %s: %d %v", f.FilePath, status, header)
	}
	return f, body
}

// TestDocumentEndToEnd has a running bot fetch a document it receives.
func TestDocumentEndToEnd(t *testing.T) {
	s := fakeapi.New(t, token)
	type result struct {
		doc  *models.Document
		file *models.File
		data []byte
		err  error
	}
	results := make(chan result, 1)
	handler := func(ctx context.Context, b *bot.Bot, u *models.Update) {
		r := result{doc: u.Message.Document}
		defer func() { results <- r }()
		if r.doc == nil {
			r.err = errors.New("no document")
			return
		}
		if r.file, r.err = b.GetFile(ctx, &bot.GetFileParams{FileID: r.doc.FileID}); r.err != nil {
			return
		}
		resp, err := http.Get(b.FileDownloadLink(r.file))
		if err != nil {
			r.err = err
			return
		}
		defer resp.Body.Close()
		r.data, r.err = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			r.err = fmt.Errorf("download: %s", resp.Status)
		}
	}
	b := newClient(t, s, bot.WithDefaultHandler(handler))
	startBot(t, b)

	data := []byte("%PDF-1.7\n" + strings.Repeat("report ", 1000))
	s.SendDocument(aliceChat, alice, "Report.PDF", "application/pdf", data, "/report see attached")
	var r result
	select {
	case r = <-results:
	case <-time.After(waitFor):
		t.Fatal("the bot never handled the document")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	d := r.doc
	if d.FileID == "" || d.FileUniqueID == "" || d.FileID == d.FileUniqueID || d.FileName != "Report.PDF" ||
		d.MimeType != "application/pdf" || d.FileSize != int64(len(data)) {
		t.Fatalf("document = %+v", d)
	}
	f := r.file
	if f.FileID != d.FileID || f.FileUniqueID != d.FileUniqueID || f.FileSize != int64(len(data)) ||
		!strings.HasPrefix(f.FilePath, "documents/file_") || !strings.HasSuffix(f.FilePath, ".pdf") {
		t.Fatalf("file = %+v", f)
	}
	if !bytes.Equal(r.data, data) {
		t.Fatalf("downloaded %d bytes, want the %d sent", len(r.data), len(data))
	}
	if n := s.Downloads(); n != 1 {
		t.Fatalf("Downloads = %d, want 1", n)
	}
}

func TestDocumentMessage(t *testing.T) {
	s := fakeapi.New(t, token)
	s.SendDocument(aliceChat, alice, "a.txt", "text/plain", []byte("hello"), "/start now")
	ups := pollUpdates(t, s)
	if len(ups) != 1 || ups[0].Message == nil {
		t.Fatalf("updates = %+v", ups)
	}
	m := ups[0].Message
	wantEntities := []models.MessageEntity{{Type: models.MessageEntityTypeBotCommand, Offset: 0, Length: 6}}
	if m.ID != 1 || m.Date == 0 || m.From.ID != alice.ID || m.Chat != aliceChat || m.Caption != "/start now" ||
		!reflect.DeepEqual(m.CaptionEntities, wantEntities) || m.Document == nil || m.Document.FileSize != 5 {
		t.Fatalf("message = %+v", m)
	}
}

func TestGetFileErrorsAndSizeLimit(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	ctx := t.Context()

	_, err := b.GetFile(ctx, &bot.GetFileParams{FileID: "no-such-file"})
	wantBadRequest(t, err, "Bad Request: invalid file_id")

	const limit = 20 * 1024 * 1024
	big := make([]byte, limit+1)
	atLimit, _ := s.AddFile(big[:limit])
	tooBig, _ := s.AddFile(big)
	if f, err := b.GetFile(ctx, &bot.GetFileParams{FileID: atLimit}); err != nil || f.FileSize != limit {
		t.Fatalf("GetFile of a 20 MB file = %+v, %v", f, err)
	}
	_, err = b.GetFile(ctx, &bot.GetFileParams{FileID: tooBig})
	if !errors.Is(err, bot.ErrorBadRequest) {
		t.Fatalf("GetFile of a file over 20 MB: %v, want bot.ErrorBadRequest", err)
	}
	wantBadRequest(t, err, "Bad Request: file is too big")

	// A self-hosted Bot API server has no such limit.
	s.SetFileSizeLimit(0)
	if f, err := b.GetFile(ctx, &bot.GetFileParams{FileID: tooBig}); err != nil || f.FileSize != limit+1 || f.FilePath == "" {
		t.Fatalf("GetFile without a limit = %+v, %v", f, err)
	}
	s.SetFileSizeLimit(4)
	small, _ := s.AddFile([]byte("12345"))
	_, err = b.GetFile(ctx, &bot.GetFileParams{FileID: small})
	wantBadRequest(t, err, "Bad Request: file is too big")
	if n := s.Calls("getFile"); n != 5 {
		t.Fatalf("Calls(getFile) = %d, want 5", n)
	}
}

func TestPhotoSizes(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	var png640 bytes.Buffer
	if err := png.Encode(&png640, image.NewGray(image.Rect(0, 0, 640, 480))); err != nil {
		t.Fatal(err)
	}
	s.SendPhoto(aliceChat, alice, png640.Bytes(), "look")
	s.SendPhoto(aliceChat, alice, []byte("not an image at all"), "")
	ups := pollUpdates(t, s)
	if len(ups) != 2 {
		t.Fatalf("%d updates, want 2", len(ups))
	}

	photo := ups[0].Message.Photo
	if ups[0].Message.Caption != "look" || len(photo) < 2 {
		t.Fatalf("message = %+v", ups[0].Message)
	}
	for i := 1; i < len(photo); i++ {
		prev, cur := photo[i-1], photo[i]
		if cur.Width <= prev.Width || cur.Height <= prev.Height || cur.FileSize <= prev.FileSize ||
			cur.FileID == prev.FileID || cur.FileUniqueID == prev.FileUniqueID {
			t.Fatalf("sizes not ordered smallest to largest with distinct ids: %+v", photo)
		}
	}
	largest, smallest := photo[len(photo)-1], photo[0]
	if largest.Width != 640 || largest.Height != 480 || largest.FileSize != png640.Len() ||
		smallest.Width != 320 || smallest.Height != 240 {
		t.Fatalf("photo sizes = %+v, want 320×240 … 640×480 (%d bytes)", photo, png640.Len())
	}
	f, data := fetch(t, b, largest.FileID)
	if !bytes.Equal(data, png640.Bytes()) || !strings.HasPrefix(f.FilePath, "photos/") || !strings.HasSuffix(f.FilePath, ".jpg") {
		t.Fatalf("largest size: file %+v, %d bytes", f, len(data))
	}
	if _, data := fetch(t, b, smallest.FileID); len(data) != smallest.FileSize || !bytes.Equal(data, png640.Bytes()[:len(data)]) {
		t.Fatalf("smallest size: %d bytes, want the first %d", len(data), smallest.FileSize)
	}

	other := ups[1].Message.Photo
	if len(other) < 2 || other[len(other)-1].Width != 1280 || other[len(other)-1].Height != 960 {
		t.Fatalf("photo of undecodable bytes = %+v, want 1280×960 as the largest size", other)
	}
	if s.Downloads() != 2 {
		t.Fatalf("Downloads = %d, want 2", s.Downloads())
	}
}

func TestVoiceVideoAndOtherMedia(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	voiceData, videoData, audioData := []byte("OggS voice"), []byte("video bytes"), []byte("ID3 audio")
	s.SendVoice(aliceChat, alice, voiceData, 7)
	s.SendVideo(aliceChat, alice, "clip.MOV", "video/quicktime", videoData)
	s.SendVideo(aliceChat, alice, "", "video/mp4", videoData)
	audioID, audioUnique := s.AddFile(audioData)
	s.SendUpdate(models.Update{Message: &models.Message{
		From:  &alice,
		Chat:  aliceChat,
		Audio: &models.Audio{FileID: audioID, FileUniqueID: audioUnique, Duration: 3, FileSize: int64(len(audioData))},
	}})
	ups := pollUpdates(t, s)
	if len(ups) != 4 {
		t.Fatalf("%d updates, want 4", len(ups))
	}

	v := ups[0].Message.Voice
	if v == nil || v.Duration != 7 || v.MimeType != "audio/ogg" || v.FileSize != int64(len(voiceData)) || v.FileUniqueID == "" {
		t.Fatalf("voice = %+v", v)
	}
	if f, data := fetch(t, b, v.FileID); !bytes.Equal(data, voiceData) || !strings.HasPrefix(f.FilePath, "voice/") || !strings.HasSuffix(f.FilePath, ".oga") {
		t.Fatalf("voice file %+v, data %q", f, data)
	}

	for i, wantExt := range []string{".mov", ".mp4"} {
		vid := ups[1+i].Message.Video
		if vid == nil || vid.MimeType == "" || vid.FileSize != int64(len(videoData)) || vid.FileUniqueID == "" {
			t.Fatalf("video = %+v", vid)
		}
		if f, data := fetch(t, b, vid.FileID); !bytes.Equal(data, videoData) || !strings.HasPrefix(f.FilePath, "videos/") || !strings.HasSuffix(f.FilePath, wantExt) {
			t.Fatalf("video file %+v, data %q; want extension %s", f, data, wantExt)
		}
	}
	if name := ups[1].Message.Video.FileName; name != "clip.MOV" {
		t.Fatalf("video file_name = %q", name)
	}

	if a := ups[3].Message.Audio; a == nil || a.FileID != audioID {
		t.Fatalf("audio = %+v", a)
	}
	if f, data := fetch(t, b, audioID); !bytes.Equal(data, audioData) || f.FileUniqueID != audioUnique {
		t.Fatalf("audio file %+v, data %q", f, data)
	}
}

func TestDownloadErrors(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	id, _ := s.AddFile([]byte("secret"))

	// A path is served only once getFile has issued it. (The first file of
	// a fresh Server from AddFile is documents/file_0.)
	early := s.URL() + "/file/bot" + token + "/documents/file_0"
	notFound := `{"ok":false,"error_code":404,"description":"Not Found"}`
	if status, _, body := download(t, early); status != http.StatusNotFound || string(body) != notFound {
		t.Fatalf("download before getFile: %d %s", status, body)
	}
	f, err := b.GetFile(t.Context(), &bot.GetFileParams{FileID: id})
	if err != nil || f.FilePath != "documents/file_0" {
		t.Fatalf("GetFile = %+v, %v", f, err)
	}
	link := b.FileDownloadLink(f)
	if link != early {
		t.Fatalf("FileDownloadLink = %s, want %s", link, early)
	}

	tests := []struct {
		name       string
		url        string
		wantStatus int
		wantBody   string
	}{
		{"wrong token", strings.Replace(link, token, "4242:wrong", 1), 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`},
		{"no token", s.URL() + "/file/bot/documents/file_0", 401, `{"ok":false,"error_code":401,"description":"Unauthorized"}`},
		{"unknown path", s.URL() + "/file/bot" + token + "/documents/file_9", 404, notFound},
		{"no path", s.URL() + "/file/bot" + token, 404, notFound},
		{"right token", link, 200, "secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, body := download(t, tc.url); status != tc.wantStatus || string(body) != tc.wantBody {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.wantStatus, tc.wantBody)
			}
		})
	}

	s.FailDownloads(2, http.StatusBadGateway)
	for range 2 {
		if status, _, body := download(t, link); status != http.StatusBadGateway || !strings.Contains(string(body), `"error_code":502`) {
			t.Fatalf("injected failure: %d %s", status, body)
		}
	}
	if status, _, body := download(t, link); status != http.StatusOK || string(body) != "secret" {
		t.Fatalf("download after the injected failures: %d %s", status, body)
	}
	if n := s.Downloads(); n != 2 {
		t.Fatalf("Downloads = %d, want 2 (failed requests are not counted)", n)
	}
}

func TestDeleteUsersMessages(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	ctx := t.Context()
	// Messages 1 and 2 are Alice's, 3 is the bot's, 4 and 5 are Alice's
	// from 49 and 47 hours ago.
	s.SendText(aliceChat, alice, "my password is hunter2")
	s.SendDocument(aliceChat, alice, "id.jpg", "image/jpeg", []byte{0xff, 0xd8}, "")
	reply, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "Deleted, please don't"})
	if err != nil || reply.ID != 3 {
		t.Fatalf("SendMessage = %+v, %v", reply, err)
	}
	now := time.Now()
	for _, age := range []time.Duration{49 * time.Hour, 47 * time.Hour} {
		s.SendUpdate(models.Update{Message: &models.Message{From: &alice, Chat: aliceChat, Text: "old", Date: int(now.Add(-age).Unix())}})
	}

	for _, id := range []int{2, 1, 3, 5} {
		if ok, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: aliceChat.ID, MessageID: id}); err != nil || !ok {
			t.Fatalf("DeleteMessage(%d) = %v, %v", id, ok, err)
		}
	}
	_, err = b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: aliceChat.ID, MessageID: 4})
	wantBadRequest(t, err, "Bad Request: message can't be deleted for everyone")
	_, err = b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: aliceChat.ID, MessageID: 1})
	wantBadRequest(t, err, "Bad Request: message to delete not found")

	if got := s.Deleted(aliceChat.ID); !reflect.DeepEqual(got, []int{2, 1, 3, 5}) {
		t.Fatalf("Deleted = %v, want [2 1 3 5]", got)
	}
	if got := s.Deleted(bobChat.ID); got != nil {
		t.Fatalf("Deleted in another chat = %v", got)
	}
	sent := s.Sent(aliceChat.ID)
	if len(sent) != 5 || sent[2].Method != "deleteMessage" || sent[2].MessageID != 1 || sent[2].Text != "my password is hunter2" {
		t.Fatalf("Sent = %+v", sent)
	}
}

// TestConcurrentFiles sends and fetches files from many goroutines; with
// -race it checks the locking of the file store.
func TestConcurrentFiles(t *testing.T) {
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			user := models.User{ID: int64(3000 + i), FirstName: "U"}
			chat := models.Chat{ID: user.ID, Type: models.ChatTypePrivate}
			data := []byte(strings.Repeat(fmt.Sprint(i), 100+i))
			s.SendDocument(chat, user, "f.bin", "application/octet-stream", data, "")
			id, _ := s.AddFile(data)
			f, err := b.GetFile(t.Context(), &bot.GetFileParams{FileID: id})
			if err != nil {
				errs <- err
				return
			}
			resp, err := http.Get(b.FileDownloadLink(f))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if got, err := io.ReadAll(resp.Body); err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("file %d: got %q, %v", i, got, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.Downloads() != n || s.Pending() != n {
		t.Fatalf("Downloads = %d, Pending = %d; want %d each", s.Downloads(), s.Pending(), n)
	}
}

// TestWebhookRegistration: setWebhook, deleteWebhook and getWebhookInfo
// agree as Telegram's do, and getUpdates answers 409 while a webhook is
// set, on the wire as Telegram words it.
func TestWebhookRegistration(t *testing.T) {
	ctx := t.Context()
	s := fakeapi.New(t, token)
	b := newClient(t, s)
	base := s.URL() + "/bot" + token + "/"
	s.SendText(aliceChat, alice, "waiting")

	info, err := b.GetWebhookInfo(ctx)
	if err != nil || info.URL != "" || info.PendingUpdateCount != 1 || info.MaxConnections != 0 {
		t.Fatalf("GetWebhookInfo before any webhook = %+v, %v", info, err)
	}
	_, err = b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "http://example.org/hook"})
	wantBadRequest(t, err, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")

	if ok, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: "https://example.org/hook", AllowedUpdates: []string{"message"}}); err != nil || !ok {
		t.Fatalf("SetWebhook = %v, %v", ok, err)
	}
	info, err = b.GetWebhookInfo(ctx)
	if err != nil || info.URL != "https://example.org/hook" || info.MaxConnections != 40 ||
		!reflect.DeepEqual(info.AllowedUpdates, []string{"message"}) || info.PendingUpdateCount != 1 || s.Webhook() != info.URL {
		t.Fatalf("GetWebhookInfo with a webhook = %+v, %v", info, err)
	}
	status, body := post(t, base+"getUpdates", "application/json", `{"timeout":0}`)
	if want := `{"ok":false,"error_code":409,"description":"Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"}`; status != http.StatusConflict || body != want {
		t.Fatalf("getUpdates with a webhook: %d %s\nwant 409 %s", status, body, want)
	}
	if _, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
		t.Fatal(err)
	}
	if info, err := b.GetWebhookInfo(ctx); err != nil || info.URL != "" || info.MaxConnections != 0 || s.Webhook() != "" {
		t.Fatalf("GetWebhookInfo after deleteWebhook = %+v, %v", info, err)
	}
	if ids, errDesc := getUpdates(t, s, `{"timeout":0}`); errDesc != "" || len(ids) != 1 {
		t.Fatalf("getUpdates after deleteWebhook = %v %s", ids, errDesc)
	}

	// A webhook set while a poll waits ends the poll with 409. The poll is
	// counted as it arrives, a moment before it waits: one that had not
	// started waiting gets the other 409, and the test tries again.
	terminated := `{"ok":false,"error_code":409,"description":"Conflict: terminated by setWebhook request"}`
	deadline := time.Now().Add(waitFor)
	for {
		calls := s.Calls("getUpdates")
		waiting := make(chan string, 1)
		go func() {
			_, body := post(t, base+"getUpdates", "application/json", `{"offset":2,"timeout":5}`)
			waiting <- body
		}()
		if err := s.WaitFor(waitFor, func() bool { return s.Calls("getUpdates") > calls }); err != nil {
			t.Fatal(err)
		}
		s.SetWebhook("https://example.org/other")
		var got string
		select {
		case got = <-waiting:
		case <-time.After(waitFor):
			t.Fatal("a poll waiting when the webhook was set was not ended")
		}
		if got == terminated {
			break
		}
		if !strings.Contains(got, "while webhook is active") || time.Now().After(deadline) {
			t.Fatalf("a poll waiting when the webhook was set got %s, want %s", got, terminated)
		}
		s.SetWebhook("")
	}
	if info, _ := b.GetWebhookInfo(ctx); info.URL != "https://example.org/other" {
		t.Fatalf("GetWebhookInfo after SetWebhook = %+v", info)
	}
	s.SetWebhook("")
	if ids, errDesc := getUpdates(t, s, `{"offset":2,"timeout":0}`); errDesc != "" || ids != nil {
		t.Fatalf("getUpdates after SetWebhook(\"\") = %v %s", ids, errDesc)
	}
}

// TestDropNextIsANetworkError: a dropped call reaches the client as a
// network error, not an HTTP answer, and is counted; the next call works.
func TestDropNextIsANetworkError(t *testing.T) {
	s := fakeapi.New(t, token)
	s.AddChat(aliceChat)
	b := newClient(t, s)
	s.DropNext("sendMessage", 1)
	params := &bot.SendMessageParams{ChatID: aliceChat.ID, Text: "x"}
	_, err := b.SendMessage(t.Context(), params)
	var netErr net.Error
	if !errors.As(err, &netErr) || errors.Is(err, bot.ErrorBadRequest) {
		t.Fatalf("a dropped call: %v, want a network error", err)
	}
	if _, err := b.SendMessage(t.Context(), params); err != nil {
		t.Fatalf("the call after the dropped one: %v", err)
	}
	if n, sent := s.Calls("sendMessage"), len(s.Sent(aliceChat.ID)); n != 2 || sent != 1 {
		t.Fatalf("Calls = %d, Sent = %d; want 2 calls, 1 message", n, sent)
	}
}
