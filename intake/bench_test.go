package intake_test

import (
	"context"
	"testing"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// BenchmarkHandleButton measures one button press end to end through the
// service against a real Redis: load and unseal the draft, run the flow,
// seal and store it again (two round trips to Redis).
func BenchmarkHandleButton(b *testing.B) {
	env := testenv.New(b)
	c := newChat(b, env, 1, "")
	c.Cmd("start")
	c.Press("English")
	c.Press("continue")
	c.Press("No")
	c.Press("Me")
	b.ReportAllocs()
	for b.Loop() {
		c.Press("Threats") // toggles; the reply carries the next keyboard
	}
}

// BenchmarkSubmit measures Send: building the report, sealing it with age to
// one recipient, and queueing it with the enqueue script.
func BenchmarkSubmit(b *testing.B) {
	env := testenv.New(b)
	b.ReportAllocs()
	var id int64
	for b.Loop() {
		b.StopTimer()
		id++
		c := newChat(b, env, id, "")
		c.Fill("bench", false)
		send := c.Button("Send").Data
		b.StartTimer()
		r, err := env.Service.Handle(context.Background(), id, flows.Event{Kind: flows.EventButton, Data: send})
		if err != nil || len(r.Messages) == 0 {
			b.Fatal(err)
		}
	}
}
