package redistest_test

import (
	"context"
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
