// Command vigil is the one binary of Vigil: the Telegram bot, a console that
// walks the same conversation in a terminal, key generation, and the staff's
// triage tool.
//
// Usage:
//
//	vigil keygen [--pq] [-o FILE]      new staff identity; prints its public key
//	vigil bot                          run the Telegram bot
//	vigil console [--lang XX]          the report flow in this terminal
//	vigil triage COMMAND …             the staff tool (vigil triage help); serve for the browser
//	vigil locales COMMAND …            the translators' tool (vigil locales help)
//
// Configuration comes from the environment (see config.go and the README);
// bad configuration stops start-up with one line naming the setting.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/store"
)

const usage = `vigil — report threats against human rights defenders, safely.

Usage:
  vigil keygen [--pq] [-o FILE]          create a staff identity (age; --pq: post-quantum) and
                                         print its public key
  vigil bot                              run the Telegram bot (needs TELEGRAM_BOT_TOKEN)
  vigil console [--lang XX] [--chat N]   walk the report flow in this terminal, no Telegram needed
  vigil triage COMMAND …                 the staff tool: list, show, claim, status, note,
                                         reply, export, stats, purge, audit, and serve (the
                                         same in your browser) (vigil triage help)
  vigil broadcast COMMAND …              the coordinators' tool: create, approve, status,
                                         list, cancel, show (vigil broadcast help)
  vigil guidance COMMAND …               the same for guidance pages shown by /guidance
  vigil locales COMMAND …                the translators' tool: check, export, import, accept
                                         (vigil locales help)

Environment: TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE), TELEGRAM_API_URL,
REDIS_URL, VIGIL_RECIPIENTS_FILE, VIGIL_SECRET_FILE, VIGIL_CONFIG, VIGIL_IDENTITY,
VIGIL_STAFF, VIGIL_CLAIM_LEASE, VIGIL_BOT_RECIPIENT, VIGIL_LOG_LEVEL. See README.md.
`

// errUsage marks an error whose message is the whole story (no usage text).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// VIGIL_CPUPROFILE=FILE writes a CPU profile, for performance work.
	if path := os.Getenv("VIGIL_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}

// run is the whole program, with its world passed in so tests can drive it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	// The Redis client's own lines are detail: the staff tools drop them,
	// the bot and the console log them at debug level (LogLibraryTo again).
	store.LogLibraryTo(slog.New(slog.DiscardHandler))
	var err error
	switch args[0] {
	case "keygen":
		err = keygen(args[1:], stdout, stderr)
	case "bot":
		err = runBot(ctx, args[1:], stderr, getenv)
	case "console":
		err = runConsole(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "triage":
		err = runTriage(ctx, args[1:], stdin, stdout, stderr, getenv)
	case "broadcast":
		err = runBroadcast(ctx, store.KindBroadcast, args[1:], stdout, stderr, getenv)
	case "guidance":
		err = runBroadcast(ctx, store.KindGuidance, args[1:], stdout, stderr, getenv)
	case "locales":
		err = runLocales(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if !errors.Is(err, errUsage) {
			// An error may carry what someone else wrote: a staff name
			// ("held by …"), why a report did not open.
			fmt.Fprintf(stderr, "vigil: %s\n", textsafe.Terminal(err.Error()))
		}
		return 1
	}
	return 0
}
