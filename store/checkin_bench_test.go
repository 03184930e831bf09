package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// usedMemory reads INFO memory's used_memory.
func usedMemory(b *testing.B, rdb redis.UniversalClient) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(info, "used_memory:")
	line, _, _ := strings.Cut(rest, "\r")
	n, err := strconv.ParseInt(line, 10, 64)
	if err != nil {
		b.Fatalf("used_memory: %v", err)
	}
	return n
}

// BenchmarkCheckinsDue loads 10,000 running check-ins, each with a record
// as large as the bot seals it and a 200-character note sealed to one
// X25519 staff recipient, and reports Redis memory per check-in
// (bytes/checkin). It then times what one look of the due loop does with
// 1% of them due: list the due ones and claim each (ns/claimed, per due
// check-in found and claimed).
func BenchmarkCheckinsDue(b *testing.B) {
	const running, due = 10000, 100
	ctx := context.Background()
	srv := redistest.Start(b)
	rdb := srv.Client(b)
	s := store.New(rdb, store.Options{})
	if err := s.Init(ctx); err != nil {
		b.Fatal(err)
	}
	keys, _, err := seal.LoadOrCreateKeys(b.TempDir() + "/bot.secret")
	if err != nil {
		b.Fatal(err)
	}
	_, pub, err := seal.NewIdentity()
	if err != nil {
		b.Fatal(err)
	}
	staff, err := seal.ParseRecipients(strings.NewReader(pub + "\n"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 9, 10, 0, 0, 0, time.UTC)
	// The fields intake's record holds, with a duress word's MAC.
	record, err := json.Marshal(map[string]any{"chat": int64(5550001234), "lang": "en", "offset": 180, "interval": 6 * time.Hour,
		"country": "UA", "deadline": now.Add(6 * time.Hour), "last": now, "duress": keys.MAC("bench", []byte("word"))})
	if err != nil {
		b.Fatal(err)
	}
	note, err := staff.Seal([]byte(strings.Repeat("a note of 200 characters. ", 8)[:200]))
	if err != nil {
		b.Fatal(err)
	}
	handles := make([]string, running)
	schedule := func(i int, remind time.Time) {
		sc := store.CheckinSchedule{Sealed: keys.Seal("checkin:"+handles[i], record), Deadline: remind.Add(time.Hour), Remind: remind,
			TTL: 7 * 24 * time.Hour}
		if err := s.StartCheckin(ctx, handles[i], sc, note); err != nil {
			b.Fatal(err)
		}
	}
	before := usedMemory(b, rdb)
	for i := range handles {
		handles[i] = keys.Hash("chat", int64(5550000000+i))
		remind := now.Add(time.Duration(1+i%3600) * time.Second) // not due
		if i < due {
			remind = now.Add(-time.Duration(i+1) * time.Second)
		}
		schedule(i, remind)
	}
	perCheckin := float64(usedMemory(b, rdb)-before) / running
	b.ResetTimer() // which forgets metrics reported so far
	claimed := 0
	for range b.N {
		b.StopTimer()
		for i := range due { // due again, as before the look
			schedule(i, now.Add(-time.Duration(i+1)*time.Second))
		}
		b.StartTimer()
		hs, err := s.DueCheckins(ctx, now, 100)
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range hs {
			if _, ok, err := s.ClaimCheckin(ctx, h, now, time.Minute); err != nil {
				b.Fatal(err)
			} else if ok {
				claimed++
			}
		}
	}
	b.StopTimer()
	if claimed != b.N*due {
		b.Fatalf("claimed %d, want %d", claimed, b.N*due)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(claimed), "ns/claimed")
	b.ReportMetric(perCheckin, "bytes/checkin")
	b.ReportMetric(float64(len(keys.Seal("checkin:x", record))), "record-bytes")
	b.ReportMetric(float64(len(note)), "note-bytes")
}
