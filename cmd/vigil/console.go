package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/textsafe"
)

// runConsole walks the report flow in a terminal. It goes through the same
// intake service as the bot, so a report sent here is sealed and queued
// exactly as one sent through Telegram.
func runConsole(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "", "the phone's language, as Telegram would give it (e.g. fr, ar, pt-BR)")
	chat := fs.Int64("chat", 1, "the chat `ID` to play; different ids are different defenders")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := loadConfig(getenv, false)
	if err != nil {
		return err
	}
	level := cfg.LogLevel
	if getenv("VIGIL_LOG_LEVEL") == "" {
		level = slog.LevelWarn // the console is a conversation: keep routine log lines out of it
	}
	trust, err := loadTrust(getenv)
	if err != nil {
		return err
	}
	a, err := openApp(ctx, cfg, newLogger(stderr, level, or(getenv("VIGIL_LOG_FORMAT"), "text")), true, trust)
	if err != nil {
		return err
	}
	defer a.Close()

	fmt.Fprintln(stdout, "Vigil console: the report flow as a defender sees it in Telegram.")
	fmt.Fprintln(stdout, "Type a number to press a button, text to answer, /start to begin, /help for commands; Ctrl-D leaves.")
	fmt.Fprintln(stdout, "Replies from staff (vigil triage reply) show up here; press Enter to check for them.")
	c := &console{out: stdout}
	c.step(ctx, a, *chat, flows.Event{Kind: flows.EventCommand, Command: "help", LanguageHint: *lang})
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for {
		c.deliver(ctx, a, *chat)
		fmt.Fprint(stdout, "> ")
		if !in.Scan() {
			fmt.Fprintln(stdout)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		ev := flows.Event{Kind: flows.EventText, Text: line, LanguageHint: *lang}
		switch n, err := strconv.Atoi(line); {
		case err == nil && n >= 1 && n <= len(c.buttons):
			ev = flows.Event{Kind: flows.EventButton, Data: c.buttons[n-1], LanguageHint: *lang}
		case err == nil && len(c.buttons) > 0 && n >= 0 && n < 100:
			fmt.Fprintf(stdout, "(no button %d; the buttons are 1 to %d)\n", n, len(c.buttons))
			continue
		case strings.HasPrefix(line, "/") && !strings.Contains(line, " "):
			ev = flows.Event{Kind: flows.EventCommand, Command: strings.ToLower(line[1:]), LanguageHint: *lang}
		}
		c.step(ctx, a, *chat, ev)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// deliver shows staff replies addressed to this console's chat, as the bot
// would deliver them. Replies for other chats are left to the bot, which
// takes them over after a minute: do not point the console at the Redis of
// a bot in service.
func (c *console) deliver(ctx context.Context, a *app, chat int64) {
	ds, err := a.service.PendingReplies(ctx, "console", -1)
	if err != nil {
		fmt.Fprintf(c.out, "(could not check for replies: %s)\n", textsafe.Terminal(err.Error()))
		return
	}
	for _, d := range ds {
		if d.Chat != chat && d.Problem == "" {
			continue
		}
		err := a.service.DeliverReply(ctx, d, func(msgs []flows.Message) error {
			c.show(msgs)
			return nil
		})
		if err != nil {
			fmt.Fprintf(c.out, "(could not deliver a reply: %s)\n", textsafe.Terminal(err.Error()))
		}
	}
}

type console struct {
	out     io.Writer
	buttons []string // data of the buttons on screen, numbered from 1
}

func (c *console) step(ctx context.Context, a *app, chat int64, ev flows.Event) {
	reply, err := a.service.Handle(ctx, chat, ev)
	if err != nil {
		fmt.Fprintf(c.out, "\n%s\n(error: %s)\n", a.text.T(a.text.Match(ev.LanguageHint), "msg.internal_error", nil), textsafe.Terminal(err.Error()))
		return
	}
	if reply.Toast != "" {
		fmt.Fprintf(c.out, "(%s)\n", textsafe.TerminalLine(reply.Toast))
	}
	c.show(reply.Messages)
}

// show prints messages, numbering their buttons from 1. A message may
// quote the defender's answers or a staff reply: it is printed through
// textsafe, as the staff tools print them.
func (c *console) show(msgs []flows.Message) {
	for _, m := range msgs {
		if m.Text == "" {
			continue
		}
		fmt.Fprintln(c.out)
		fmt.Fprintln(c.out, textsafe.Terminal(m.Text))
		if len(m.Buttons) > 0 {
			c.buttons = c.buttons[:0]
			for _, row := range m.Buttons {
				var cells []string
				for _, b := range row {
					c.buttons = append(c.buttons, b.Data)
					cells = append(cells, fmt.Sprintf("[%d] %s", len(c.buttons), textsafe.TerminalLine(b.Label)))
				}
				fmt.Fprintln(c.out, "  "+strings.Join(cells, "   "))
			}
		}
	}
}
