package main

import (
	"context"
	"flag"

	"github.com/redis/go-redis/v9"

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// What the staff tools (triage, broadcast, guidance) share.

// parseAnywhere parses flags that may come before or after the positional
// arguments, and returns the positional ones.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// connectStaff opens the Redis the staff tools work on: REDIS_URL (or its
// file, or REDIS_ADDRS), the local default otherwise.
func connectStaff(ctx context.Context, getenv func(string) string) (redis.UniversalClient, error) {
	redisURL, err := secretSetting(getenv, "REDIS_URL")
	if err != nil {
		return nil, err
	}
	target, err := redisTarget(getenv, or(redisURL, "redis://127.0.0.1:6379/0"))
	if err != nil {
		return nil, err
	}
	rdb, err := store.ConnectTo(ctx, target)
	if err != nil {
		return nil, redisError(target, err)
	}
	return rdb, nil
}

// loadIdentities reads the staff identity files given with -i, or
// VIGIL_IDENTITY when none was.
func loadIdentities(paths []string, getenv func(string) string) ([]seal.Identity, error) {
	if len(paths) == 0 && getenv("VIGIL_IDENTITY") != "" {
		paths = []string{getenv("VIGIL_IDENTITY")}
	}
	var ids []seal.Identity
	for _, p := range paths {
		more, err := seal.LoadIdentities(p)
		if err != nil {
			return nil, err
		}
		ids = append(ids, more...)
	}
	return ids, nil
}
