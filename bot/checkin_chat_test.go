package bot_test

import (
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
)

// TestTypedCheckinSecretsLeaveTheChat: the note and the duress word a
// defender types while setting a check-in, and the duress word typed to
// check in under duress, are deleted from the chat at once: someone who
// takes the phone reads neither, and a duress check-in leaves the chat as
// a tapped one does. What else the defender typed (their time zone) stays.
func TestTypedCheckinSecretsLeaveTheChat(t *testing.T) {
	const note, word = "NOTE-MARKER-7731 court at 10, call my lawyer", "Bluebird-MARKER"
	h := start(t, nil)
	d := h.defender(7310946071, "en")
	// last waits for the bot's newest message to be the text of key.
	last := func(key string) {
		t.Helper()
		want := d.label(key)
		if err := h.api.WaitFor(fakeapi.Patience, func() bool {
			for _, m := range h.api.Messages(d.chat.ID) {
				if strings.HasPrefix(m.Text, want[:min(len(want), 40)]) && m.From != nil && m.From.IsBot {
					return true
				}
			}
			return false
		}); err != nil {
			t.Fatalf("no %s: %v", key, err)
		}
	}
	d.send("/checkin", 1)
	d.tap("24 h", 1)
	last("msg.checkin_zone")
	// deleted checks how many messages were deleted so far: the typed
	// time zone stays, each secret goes as soon as it is read.
	deleted := func(want int) {
		t.Helper()
		if err := h.api.WaitFor(fakeapi.Patience, func() bool { return len(h.api.Deleted(d.chat.ID)) >= want }); err != nil {
			t.Fatalf("%d messages deleted, want %d", len(h.api.Deleted(d.chat.ID)), want)
		}
		if n := len(h.api.Deleted(d.chat.ID)); n != want {
			t.Fatalf("%d messages deleted, want %d", n, want)
		}
	}
	h.api.SendText(d.chat, d.user, "+2")
	last("msg.checkin_country")
	deleted(0)
	d.tap("Skip", 1)
	last("msg.checkin_note")
	h.api.SendText(d.chat, d.user, note)
	last("msg.checkin_duress")
	deleted(1)
	h.api.SendText(d.chat, d.user, word)
	deleted(2)
	if err := h.api.WaitFor(fakeapi.Patience, func() bool {
		m := h.api.Messages(d.chat.ID)
		return strings.HasPrefix(m[len(m)-1].Text, "Check-in set.")
	}); err != nil {
		t.Fatalf("the check-in was not set: %v", err)
	}
	// Under duress: the word, in other capitals, checks in.
	h.api.SendText(d.chat, d.user, strings.ToUpper(word))
	if err := h.api.WaitFor(fakeapi.Patience, func() bool {
		m := h.api.Messages(d.chat.ID)
		return strings.HasPrefix(m[len(m)-1].Text, "Thank you. Next check-in due")
	}); err != nil {
		t.Fatalf("the duress check-in was not answered: %v", err)
	}
	deleted(3)
	for _, m := range h.api.Messages(d.chat.ID) {
		if strings.Contains(m.Text, "NOTE-MARKER") || strings.Contains(strings.ToLower(m.Text), "bluebird") {
			t.Errorf("the bot's message %d shows %q", m.ID, m.Text)
		}
	}
}
