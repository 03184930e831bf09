package store_test

import (
	"context"
	"errors"
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
	// Every report counts as stored only once the replica has it: none
	// whose receipt could have been sent is lost in the failover.
	s := store.New(rdb, store.Options{WaitReplicas: 1})
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	enqueue := func(i int) error {
		_, _, err := s.Enqueue(ctx, store.Submission{DraftID: fmt.Sprintf("d%d", i), Ref: fmt.Sprintf("SENT-%04d", i),
			Sealed: []byte("age-bytes"), ReceivedAt: time.Now()})
		return err
	}
	for i := 0; i < 20; i++ {
		if err := enqueue(i); errors.Is(err, store.ErrNotReplicated) && i == 0 {
			i-- // the replica was still syncing
			time.Sleep(100 * time.Millisecond)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	master.Kill()
	// Once Sentinel has promoted the replica, the old master comes back
	// and Sentinel makes it a replica of the new one: with WaitReplicas 1,
	// writes need it (a deployment keeps two replicas for this).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if role, _ := replica.Client(t).Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "master" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Sentinel did not promote the replica within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	master.Restart(t)

	deadline = time.Now().Add(30 * time.Second)
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
	// The promotion itself was seen above. Its role is not checked again
	// here: on a loaded machine the one quick Sentinel may take the new
	// master for down too and fail over once more, to the old master now
	// back as its replica, which is Sentinel doing its job.
}

// TestWaitReplicas: with WaitReplicas, a report counts as stored only once
// a replica has it; with the replica gone, Enqueue says so (and no receipt
// may be sent), and the same draft submitted again, once the replica is
// back, returns the same reference.
func TestWaitReplicas(t *testing.T) {
	ctx := context.Background()
	master := redistest.Start(t)
	replica := redistest.StartReplica(t, master)
	s := store.New(master.Client(t), store.Options{WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	if err := s.Init(ctx); err != nil {
		t.Fatal(err)
	}
	sub := func(draft, ref string) store.Submission {
		return store.Submission{DraftID: draft, Ref: ref, Sealed: []byte("age-bytes"), ReceivedAt: time.Now()}
	}
	// The replica may still be syncing: the first may need a second try.
	var err error
	for try := 0; try < 20; try++ {
		if _, _, err = s.Enqueue(ctx, sub("d1", "WAIT-0001")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("with the replica up: %v", err)
	}
	replica.Kill()
	if _, _, err := s.Enqueue(ctx, sub("d2", "WAIT-0002")); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("with the replica down: %v, want ErrNotReplicated", err)
	}
	replica.Restart(t)
	var ref string
	for try := 0; try < 50; try++ {
		if ref, _, err = s.Enqueue(ctx, sub("d2", "WAIT-0003")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || ref != "WAIT-0002" {
		t.Fatalf("again once the replica is back: %q %v, want WAIT-0002", ref, err)
	}
}
