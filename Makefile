# Vigil — see README.md.
GO ?= go

.PHONY: build run test vet bench clean

build:
	$(GO) build -trimpath -o bin/vigil ./cmd/vigil

# With TELEGRAM_BOT_TOKEN set: the bot. Without: the console. Either way keys
# are created under ./var on first run, and a local redis-server with its data
# in ./var/redis is started unless REDIS_URL is set.
run: build
	@scripts/run

# The process-level tests of cmd/vigil take minutes on a loaded machine:
# the timeout is a safety net for a hung test, not a measure. A -race binary
# sleeps a second before exiting unless GORACE says otherwise; races are
# still reported.
test:
	$(GO) vet ./...
	GORACE=atexit_sleep_ms=0 $(GO) test -race -count=1 -timeout 30m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 2 ./...

clean:
	rm -rf bin
