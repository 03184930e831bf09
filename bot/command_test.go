package bot

import (
	"testing"

	"github.com/go-telegram/bot/models"
)

// TestCommandIsForThisBot: which texts are commands, and which of those
// are addressed to the bot named vigil_bot.
func TestCommandIsForThisBot(t *testing.T) {
	for _, tc := range []struct {
		text, self string
		cmd, to    string
		isCommand  bool
		forUs      bool
	}{
		{"/start", "vigil_bot", "start", "", true, true},
		{"/Start now", "vigil_bot", "start", "", true, true},
		{"/start@vigil_bot now", "vigil_bot", "start", "vigil_bot", true, true},
		{"/start@VIGIL_Bot", "vigil_bot", "start", "VIGIL_Bot", true, true},
		{"/start@other_bot", "vigil_bot", "start", "other_bot", true, false},
		{"/start@vigil_bot2", "vigil_bot", "start", "vigil_bot2", true, false},
		{"/start@vigil", "vigil_bot", "start", "vigil", true, false},
		{"/start@other_bot", "", "start", "other_bot", true, false},
		{"/start@", "vigil_bot", "start", "", true, true},
		{"/@vigil_bot", "vigil_bot", "", "", false, false},
		{"/home/user", "vigil_bot", "", "", false, false},
		{"start@vigil_bot", "vigil_bot", "", "", false, false},
	} {
		cmd, to, ok := command(&models.Message{Text: tc.text})
		if cmd != tc.cmd || to != tc.to || ok != tc.isCommand || ok && forBot(to, tc.self) != tc.forUs {
			t.Errorf("%q (bot %q): command %q to %q %v, for us %v; want %q to %q %v, for us %v",
				tc.text, tc.self, cmd, to, ok, forBot(to, tc.self), tc.cmd, tc.to, tc.isCommand, tc.forUs)
		}
	}
}
