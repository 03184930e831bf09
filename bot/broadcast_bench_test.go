package bot_test

import (
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/fakeapi"
)

// BenchmarkBroadcast100k sends one broadcast to 100,000 subscribers at a
// configured 1,000 messages a second, against a fake Bot API that refuses
// (429) any send over 1,000 in a trailing second, and reports the rate
// achieved over the rate configured (from the first send to the last, at
// the fake server) and the most sends that arrived in any one second.
//
//	go test -run '^$' -bench Broadcast100k -benchtime 1x -count 2 ./bot/
func BenchmarkBroadcast100k(b *testing.B) {
	const n, rate = 100000, 1000
	for b.Loop() {
		b.StopTimer()
		h := startBroadcasting(b, rate)
		h.api.LimitRate(rate)
		h.subscribe(1_000_000, n/2, "UA", "en", "fr", "ar")
		h.subscribe(2_000_000, n/2, "GE", "fr", "ar", "en")
		b.StartTimer()
		id := h.publish([]string{"UA", "GE"}, variants)
		p := h.waitStatus(id, done, 10*time.Minute)
		b.StopTimer()
		sends := h.api.Sends()[len(coordinators)*4:] // after the previews
		if p.Sent != n || len(sends) != n {
			b.Fatalf("sent %d, fake accepted %d, want %d", p.Sent, len(sends), n)
		}
		span := sends[len(sends)-1].Sub(sends[0])
		achieved := float64(len(sends)-1) / span.Seconds()
		b.ReportMetric(achieved, "sends/s")
		b.ReportMetric(achieved/rate, "achieved/configured")
		b.ReportMetric(float64(fakeapi.MaxInWindow(sends, time.Second)), "max-sends-in-1s")
		b.ReportMetric(float64(h.api.Violations()), "refused-by-rate")
		b.StartTimer()
	}
}
