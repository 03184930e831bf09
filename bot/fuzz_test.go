package bot

import (
	stdjson "encoding/json"
	"testing"

	"github.com/go-telegram/bot/models"
	"github.com/segmentio/encoding/json"

	"github.com/vigil-hrd/vigil/flows"
)

// FuzzDecodeUpdate feeds arbitrary JSON, as Telegram could send it, through
// update decoding (with segmentio/encoding/json, as the bot decodes, which
// must read what encoding/json reads) and the reading of an update into an
// event: it must never panic, and what it reads must be coherent. route, which acceptMany
// decodes instead, must read the update_id whenever it can be read, take
// every update models.Update takes, and route it as chatOf and updateKind
// do (the chat of a button press is left to TestRouteAgreesWithTheUpdate:
// see route on a message given as null or twice).
func FuzzDecodeUpdate(f *testing.F) {
	f.Add([]byte(`{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A","language_code":"ar"},"text":"/start@vigil_bot now","entities":[{"type":"bot_command","offset":0,"length":16}]}}`))
	f.Add([]byte(`{"update_id":2,"callback_query":{"id":"q","from":{"id":5,"is_bot":false,"first_name":"A"},"message":{"message_id":3,"date":1,"chat":{"id":5,"type":"private"}},"data":"3|o|yes"}}`))
	f.Add([]byte(`{"update_id":3,"callback_query":{"id":"q","from":{"id":5,"is_bot":false,"first_name":"A"},"message":{"message_id":3,"date":0,"chat":{"id":5,"type":"private"}},"data":"x"}}`))
	f.Add([]byte(`{"update_id":4,"message":{"message_id":1,"date":1,"chat":{"id":-100,"type":"supergroup"},"photo":[{"file_id":"a","file_unique_id":"b","width":1,"height":1}],"caption":"c"}}`))
	f.Add([]byte(`{"update_id":5,"edited_message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"x"}}`))
	f.Add([]byte(`{"update_id":6,"message":{"message_id":1,"date":1,"chat":{"id":5,"type":"private"},"text":"/","entities":[{"type":"bot_command","offset":0,"length":99}]}}`))
	for _, tc := range routeCases {
		f.Add([]byte(tc.raw))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var head struct {
			ID int64 `json:"update_id"`
		}
		json.Unmarshal(raw, &head)
		var r route
		rerr := json.Unmarshal(raw, &r)
		if rerr == nil && r.ID != head.ID {
			t.Fatalf("route reads update_id %d, not %d", r.ID, head.ID)
		}
		var u models.Update
		if err := json.Unmarshal(raw, &u); err != nil {
			return
		}
		chat, ok := chatOf(&u)
		// The bot decodes with segmentio/encoding/json, for speed: it must
		// read an update as the standard library does.
		var std models.Update
		if stdjson.Unmarshal(raw, &std) == nil {
			if schat, sok := chatOf(&std); schat != chat || sok != ok || updateKind(&std) != updateKind(&u) || toEvent(&std, "vigil_bot").Text != toEvent(&u, "vigil_bot").Text {
				t.Fatalf("segmentio reads chat %d %v, kind %q; encoding/json %d %v, %q", chat, ok, updateKind(&u), schat, sok, updateKind(&std))
			}
		}
		if rerr != nil {
			t.Fatalf("route refuses an update models.Update takes: %v", rerr)
		}
		if rchat, rok := r.chat(); rok != ok || r.kind() != updateKind(&u) || rchat != chat && u.CallbackQuery == nil {
			t.Fatalf("route: chat %d %v, kind %q; models.Update: %d %v, %q", rchat, rok, r.kind(), chat, ok, updateKind(&u))
		}
		private, known := isPrivate(&u)
		ev := toEvent(&u, "vigil_bot")
		_ = updateKind(&u)
		_ = languageHint(&u)
		if ev.Kind == flows.EventFile && ev.File == nil {
			t.Fatal("a file event without a file")
		}
		if ev.Kind == flows.EventButton && u.CallbackQuery == nil {
			t.Fatal("a button event without a button press")
		}
		if known && !ok {
			t.Fatalf("chat type known but no chat (private %v)", private)
		}
		_ = chat
	})
}
