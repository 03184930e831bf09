package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/store"
)

// TestSentinelFailover: through Redis Sentinel (REDIS_ADDRS with
// REDIS_MASTER_NAME), the store queues reports on the master, and after
// the master dies and Sentinel promotes its replica, it queues on the new
// master without being restarted; what was queued and replicated before is
// still there.
func TestSentinelFailover(t *testing.T) {
	ctx := context.Background()
	master := redistest.Start(t, "appendonly yes", "appendfsync always")
	replica := redistest.StartReplica(t, master, "appendonly yes", "appendfsync always")
	sentinel := redistest.StartSentinel(t, "vigil", master)

	rdb, err := store.ConnectTo(ctx, store.Target{Addrs: []string{sentinel.Addr}, MasterName: "vigil"})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	s := store.New(rdb, store.Options{})
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	enqueue := func(i int) error {
		_, _, err := s.Enqueue(ctx, store.Submission{DraftID: fmt.Sprintf("d%d", i), Ref: fmt.Sprintf("SENT-%04d", i),
			Sealed: []byte("age-bytes"), ReceivedAt: time.Now()})
		return err
	}
	for i := range 20 {
		if err := enqueue(i); err != nil {
			t.Fatal(err)
		}
	}
	// The replica has everything before the master goes.
	if err := rdb.Do(ctx, "WAIT", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}
	master.Kill()

	deadline := time.Now().Add(30 * time.Second)
	i := 20
	for {
		err := enqueue(i)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded within 30s of the master's death: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for j := 0; j <= i; j++ {
		if _, err := s.Report(ctx, fmt.Sprintf("SENT-%04d", j)); err != nil {
			t.Fatalf("report %d after the failover: %v", j, err)
		}
	}
	if role, _ := replica.Client(t).Do(ctx, "ROLE").Slice(); len(role) == 0 || role[0] != "master" {
		t.Fatalf("the replica was not promoted: %v", role)
	}
}
