package redistest_test

import (
	"fmt"

	"context"
	"github.com/redis/go-redis/v9"
	"testing"

	"github.com/vigil-hrd/vigil/internal/redistest"
)

func TestStartGivesPrivateServer(t *testing.T) {
	a := redistest.Start(t)
	b := redistest.Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers share %s", a.Addr)
	}
	ctx := context.Background()
	if err := a.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Client(t).Exists(ctx, "k").Result(); n != 0 {
		t.Fatalf("key written to one server is visible in the other")
	}
}

func TestStartCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if err := rdb.Set(ctx, fmt.Sprint("k", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	used := 0
	for _, n := range c.Nodes {
		if k, _ := n.Client(t).DBSize(ctx).Result(); k > 0 {
			used++
		}
	}
	if used != 3 {
		t.Fatalf("keys landed on %d of 3 masters", used)
	}
}

func TestStartClusterReplicas(t *testing.T) {
	c := redistest.StartClusterReplicas(t, 3, 1)
	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(c.Nodes))
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	defer rdb.Close()
	ctx := context.Background()
	master, err := rdb.MasterForKey(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	replicas := c.ReplicasOf(t, "k")
	if len(replicas) != 1 {
		t.Fatalf("%d replicas of the master of k, want 1", len(replicas))
	}
	// Ready means replicated: ROLE is slave, of that master, connected.
	role, err := replicas[0].Client(t).Do(ctx, "ROLE").Slice()
	if err != nil || len(role) < 4 {
		t.Fatalf("ROLE: %v %v", role, err)
	}
	if got := fmt.Sprintf("%v %v:%v %v", role[0], role[1], role[2], role[3]); got != "slave "+master.Options().Addr+" connected" {
		t.Fatalf("the replica of k's master says %q", got)
	}
}
