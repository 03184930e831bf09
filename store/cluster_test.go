package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/internal/redistest"
	"github.com/vigil-hrd/vigil/store"
)

// TestWaitReplicasOnCluster: on a Redis Cluster (three masters, a replica
// each), WaitReplicas counts the replicas of the master that owns the
// queue. A report counts as stored once that master's replica has it; with
// that replica gone Enqueue says so, although the other masters' replicas
// are up; the same draft submitted again once the replica is back returns
// the same reference; and after a failover the first try fails (MOVED) and
// a later one queues on the new master.
func TestWaitReplicasOnCluster(t *testing.T) {
	ctx := context.Background()
	cluster := redistest.StartClusterReplicas(t, 3, 1)
	// The client reloads its map of slots every minute by itself: an hour
	// here, so that only a MOVED (below) can make it reload in the test.
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs(), ClusterStateReloadInterval: time.Hour})
	defer rdb.Close()
	// One client, two patiences: a live replica gets all the time a
	// loaded machine may need; a dead one is given up on quickly.
	patient := store.New(rdb, store.Options{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	quick := store.New(rdb, store.Options{WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond})
	if err := patient.Init(ctx); err != nil {
		t.Fatal(err)
	}
	sub := func(draft, ref string) store.Submission {
		return store.Submission{DraftID: draft, Ref: ref, Sealed: []byte("age-bytes"), ReceivedAt: time.Now()}
	}

	if ref, fresh, err := patient.Enqueue(ctx, sub("d1", "CLU-0001")); err != nil || !fresh || ref != "CLU-0001" {
		t.Fatalf("with the replicas up: %q %v %v, want CLU-0001, fresh", ref, fresh, err)
	}
	if _, err := patient.Report(ctx, "CLU-0001"); err != nil {
		t.Fatalf("the report just queued: %v", err)
	}
	// WAIT asked the queue's master: its replica has the report.
	replicas := cluster.ReplicasOf(t, "vigil:{q}:reports")
	if len(replicas) != 1 {
		t.Fatalf("%d replicas of the queue's master, want 1", len(replicas))
	}
	var exists *redis.IntCmd
	if _, err := replicas[0].Client(t).Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ReadOnly(ctx) // this connection may read from a replica
		exists = p.Exists(ctx, "vigil:{q}:report:CLU-0001")
		return nil
	}); err != nil || exists.Val() != 1 {
		t.Fatalf("the report on the queue master's replica: %d %v, want it there", exists.Val(), err)
	}

	replicas[0].Kill()
	// Three tries: the cluster client sends keyless commands to each
	// master in turn, so a WAIT sent as one would meet another master
	// (whose replica is up) at least once.
	for try := 0; try < 3; try++ {
		if _, _, err := quick.Enqueue(ctx, sub("d2", "CLU-0002")); !errors.Is(err, store.ErrNotReplicated) {
			t.Fatalf("with the queue master's replica down, try %d: %v, want ErrNotReplicated", try+1, err)
		}
	}

	replicas[0].Restart(t)
	cluster.WaitReady(t)
	ref, fresh, err := patient.Enqueue(ctx, sub("d2", "CLU-0003"))
	if err != nil || fresh || ref != "CLU-0002" {
		t.Fatalf("again once the replica is back: %q %v %v, want CLU-0002, not fresh", ref, fresh, err)
	}

	// After a failover the client's map of slots still names the old
	// master, now a replica: it answers MOVED, which is an error (the
	// defender tries again), and the client reloads its map, so that a
	// later try queues on the new master and waits for its replica.
	old, err := rdb.MasterForKey(ctx, "vigil:{q}:reports")
	if err != nil {
		t.Fatal(err)
	}
	cluster.Failover(t, replicas[0])
	_, _, err = patient.Enqueue(ctx, sub("d3", "CLU-0004"))
	if _, moved := redis.IsMovedError(err); !moved {
		t.Fatalf("on the old master after the failover: %v, want a MOVED error", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ref, fresh, err = patient.Enqueue(ctx, sub("d3", "CLU-0004"))
		if err == nil {
			break
		}
		if _, moved := redis.IsMovedError(err); !moved || time.Now().After(deadline) {
			t.Fatalf("after the failover: %v, want the new master within 10s", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !fresh || ref != "CLU-0004" {
		t.Fatalf("after the failover: %q %v, want CLU-0004, fresh", ref, fresh)
	}
	if got := cluster.ReplicasOf(t, "vigil:{q}:reports"); len(got) != 1 || got[0].Addr != old.Options().Addr {
		t.Fatalf("the new master's replicas: %v, want the old master %s", got, old.Options().Addr)
	}
	if _, err := patient.Report(ctx, "CLU-0001"); err != nil {
		t.Fatalf("a report queued before the failover: %v", err)
	}
}

// TestWaitReplicasOnClusterForUpdates: with WaitReplicas on a Cluster,
// updates count as stored once the replica of their partition's master
// has them. With that replica gone, a batch holding such an update is not
// stored as far as Telegram knows (it would deliver it again), even when
// its other updates are on masters whose replicas are up; delivered again
// once the replica is back, the update is found stored, once.
func TestWaitReplicasOnClusterForUpdates(t *testing.T) {
	ctx := context.Background()
	cluster := redistest.StartClusterReplicas(t, 3, 1)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Addrs()})
	defer rdb.Close()
	patient := store.New(rdb, store.Options{WaitReplicas: 1, WaitTimeout: 10 * time.Second})
	quick := store.New(rdb, store.Options{WaitReplicas: 1, WaitTimeout: 300 * time.Millisecond})
	const partitions = 8
	if err := patient.InitInbox(ctx, partitions); err != nil {
		t.Fatal(err)
	}
	// Two partitions on different masters.
	masterOf := func(p int) string {
		m, err := rdb.MasterForKey(ctx, fmt.Sprintf("vigil:{in:%d}:updates", p))
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}
	a, b := 0, -1
	for p := 1; p < partitions && b < 0; p++ {
		if masterOf(p) != masterOf(a) {
			b = p
		}
	}
	if b < 0 {
		t.Fatal("all partitions on one master")
	}
	update := func(p int, id int64) store.Incoming {
		return store.Incoming{Partition: p, UpdateID: id, Handle: "h", Sealed: []byte("sealed-update")}
	}
	if _, err := patient.AcceptMany(ctx, []store.Incoming{update(a, 1), update(b, 2)}, 100, time.Hour); err != nil {
		t.Fatalf("with the replicas up: %v", err)
	}

	replicas := cluster.ReplicasOf(t, fmt.Sprintf("vigil:{in:%d}:updates", a))
	if len(replicas) != 1 {
		t.Fatalf("%d replicas of partition %d's master, want 1", len(replicas), a)
	}
	replicas[0].Kill()
	if _, err := quick.AcceptMany(ctx, []store.Incoming{update(b, 3), update(a, 4)}, 100, time.Hour); !errors.Is(err, store.ErrNotReplicated) {
		t.Fatalf("with partition %d's replica down: %v, want ErrNotReplicated", a, err)
	}
	// Three tries: a WAIT not sent to the partition's master would meet
	// another master (whose replica is up) at least once.
	for try := 0; try < 3; try++ {
		if _, err := quick.AcceptMany(ctx, []store.Incoming{update(a, 4)}, 100, time.Hour); !errors.Is(err, store.ErrNotReplicated) {
			t.Fatalf("with partition %d's replica down, try %d: %v, want ErrNotReplicated", a, try+1, err)
		}
	}
	if dropped, err := quick.AcceptMany(ctx, []store.Incoming{update(b, 5)}, 100, time.Hour); err != nil || dropped[0] != "" {
		t.Fatalf("an update on another master: %v %v, want stored", dropped, err)
	}

	replicas[0].Restart(t)
	cluster.WaitReady(t)
	dropped, err := patient.AcceptMany(ctx, []store.Incoming{update(b, 3), update(a, 4)}, 100, time.Hour)
	if err != nil || dropped[0] != "duplicate" || dropped[1] != "duplicate" {
		t.Fatalf("delivered again once the replica is back: %v %v, want both found stored", dropped, err)
	}
}
