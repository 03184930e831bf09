package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/go-telegram/bot/models"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/fakeapi"
	"github.com/vigil-hrd/vigil/internal/testenv"
)

// TestConsoleInChromium plays the staff console end to end in a real
// headless Chromium: a defender reports in Arabic through the fake Bot API
// to a running `vigil bot`; the report appears in the open queue page
// without a reload; staff open it (right to left, hostile markup shown as
// text), claim it, reply and close it in the browser; the bot delivers the
// reply to the chat. Then staff, a coordinator, create a broadcast in the
// browser (its Telegram HTML shown as text) and the bot previews it to the
// coordinators in Telegram. Screenshots of the queue, of the Arabic case,
// of the statistics and of the broadcasts are written to $VIGIL_ARTIFACTS
// (or var/artifacts/ in the repository).
func TestConsoleInChromium(t *testing.T) {
	browserPath := chromium(t)
	began := time.Now()
	env := testenv.New(t)
	api := fakeapi.New(t, replicaToken)
	cfg := filepath.Join(env.Dir, "vigil.toml")
	// ana, who runs the console, is one of two coordinators: the bot
	// previews her broadcast to both in Telegram.
	os.WriteFile(cfg, []byte("countries = [\"UA\", \"GE\", \"BY\"]\n[emergency]\nall = \"Duty officer +00 000\"\n"+
		"[coordinators]\nana = 7009001\nbo = 7009002\n"), 0o600)
	for _, id := range []int64{7009001, 7009002} {
		api.AddChat(models.Chat{ID: id, Type: models.ChatTypePrivate, FirstName: "C"})
	}
	common := []string{"VIGIL_TEST_RUN_MAIN=1", "REDIS_URL=" + env.Redis.URL(),
		"VIGIL_RECIPIENTS_FILE=" + filepath.Join(env.Dir, "recipients.txt"), "VIGIL_LOG_FORMAT=text",
		"VIGIL_STAFF_KEYRING=" + env.KeyringFile, "VIGIL_SIGNING_KEY=" + env.SigningKeyFile("ana"), "VIGIL_KNOWN_BOT=" + env.KnownBotFile()}

	// The bot, long polling the fake.
	bot := exec.Command(os.Args[0], "bot")
	bot.Env = append(append(os.Environ(), common...), "TELEGRAM_BOT_TOKEN="+replicaToken, "TELEGRAM_API_URL="+api.URL(),
		"VIGIL_SECRET_FILE="+filepath.Join(env.Dir, "bot.secret"), "VIGIL_CONFIG="+cfg,
		"VIGIL_METRICS_LISTEN=off", "VIGIL_LOG_LEVEL=warn")
	botLogs := &testenv.SafeBuffer{}
	bot.Stderr = botLogs
	if err := bot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bot.Process.Signal(syscall.SIGTERM); bot.Wait() })

	// The console, as a staff member starts it.
	console := exec.Command(os.Args[0], "triage", "serve", "-i", env.IdentityFile, "--as", "ana",
		"--listen", "127.0.0.1:0", "--poll", "500ms")
	console.Env = append(os.Environ(), append(common, "VIGIL_SIGNING_KEY="+env.SigningKeyFile("ana"))...)
	consoleLogs := &testenv.SafeBuffer{}
	console.Stderr = consoleLogs
	stdout, _ := console.StdoutPipe()
	if err := console.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { console.Process.Signal(syscall.SIGTERM); console.Wait() })
	address := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u := strings.TrimSpace(sc.Text()); strings.HasPrefix(u, "http://127.0.0.1:") {
				address <- u
			}
		}
	}()
	var loginURL string
	select {
	case loginURL = <-address:
	case <-time.After(20 * time.Second):
		t.Fatalf("the console printed no address:\n%s", consoleLogs.Bytes())
	}
	if err := waitFor(fakeapi.Patience, func() bool { return api.Calls("getUpdates") > 0 }); err != nil {
		t.Fatalf("the bot did not start: %s", botLogs.Bytes())
	}
	t.Logf("bot and console up after %v", time.Since(began).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browserPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	// The first action starts the browser, on this context: a shorter one
	// would close the browser when it ends.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", browserPath, err)
	}
	// What the browser complains about: a blocked script or style (the CSP),
	// a failed request, an exception.
	var complaintsMu sync.Mutex
	var complaints []string
	chromedp.Listen(bctx, func(ev any) {
		complaintsMu.Lock()
		defer complaintsMu.Unlock()
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				complaints = append(complaints, string(ev.Entry.Source)+": "+ev.Entry.Text)
			}
		case *cdpruntime.EventExceptionThrown:
			complaints = append(complaints, "exception: "+ev.ExceptionDetails.Text)
		}
	})
	if err := chromedp.Do(bctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v\nconsole log:\n%s", what, err, consoleLogs.Bytes())
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	// submit clicks a button that posts a form and waits for the page it
	// leads to.
	submit := func(what, button string) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		if _, err := chromedp.RunResponse(sctx, chromedp.Click(chromedp.CSS(button))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The queue is open, empty, before the report is sent.
	do("open the one-time address", chromedp.Navigate(loginURL), chromedp.WaitVisible(chromedp.ID("queue")))
	if got := eval(`location.pathname`); got != "/" {
		t.Fatalf("the login did not land on the queue: %s", got)
	}
	eval(`window.stayed = "yes"; ""`)

	// A defender reports in Arabic through Telegram.
	ph := &phone{t: t, api: api, env: env, lang: "ar",
		chat: models.Chat{ID: 7001001, Type: models.ChatTypePrivate, FirstName: "D"},
		user: models.User{ID: 7001001, FirstName: "D", LanguageCode: "ar"}}
	const description = "هددني رجال الشرطة بالاعتقال أمام المحكمة E2E-MARK <script>window.pwned=1</script>"
	ref := ph.report(description)
	t.Logf("report %s sent through the bot after %v", ref, time.Since(began).Round(time.Millisecond))

	// It appears in the open page without a reload.
	do("the new case appears in the queue", chromedp.WaitVisible(chromedp.CSS(`tr[data-ref="`+ref+`"]`)))
	if eval(`String(window.stayed)`) != "yes" {
		t.Fatal("the page was reloaded to show the new case")
	}
	shot(t, bctx, "console-queue.png")

	// The case, right to left, with the markup as text.
	do("open the case", chromedp.Click(chromedp.CSS(`a[href="/case/`+ref+`"]`)), chromedp.WaitVisible(chromedp.ID("h-report")))
	if dir := eval(`getComputedStyle(document.querySelector('#answer-description .text')).direction`); dir != "rtl" {
		t.Errorf("the Arabic description is %s, want rtl", dir)
	}
	if got := eval(`document.querySelector('#answer-description .text').textContent`); got != description {
		t.Errorf("description shown as %q", got)
	}
	if eval(`String(window.pwned)`) != "undefined" || eval(`String(document.querySelectorAll('#answer-description script').length)`) != "0" {
		t.Fatal("the report's markup ran in the console")
	}
	shot(t, bctx, "console-case-ar.png")

	// Claim, reply, close.
	submit("claim", "#claim")
	if got := eval(`document.getElementById('flash').textContent`); !strings.Contains(got, "You hold case "+ref) {
		t.Fatalf("after claim: %q", got)
	}
	const reply = "E2E-REPLY We received your report and will call you tomorrow."
	do("type the reply", chromedp.SendKeys(chromedp.ID("reply-text"), reply))
	submit("reply", "#reply-submit")
	if got := eval(`document.getElementById('flash').textContent`); !strings.Contains(got, "Reply queued") {
		t.Fatalf("after reply: %q", got)
	}
	do("choose closed", chromedp.SetValue(chromedp.ID("status-to"), "closed"),
		chromedp.SendKeys(chromedp.ID("status-reason"), "resolved with the lawyer"))
	submit("close", "#status-submit")
	if got := eval(`document.getElementById('status').dataset.status`); got != "closed" {
		t.Fatalf("status after closing: %q", got)
	}

	do("statistics", chromedp.Navigate(strings.Split(loginURL, "/login")[0]+"/stats"), chromedp.WaitVisible(chromedp.ID("stat-country")))
	if got := eval(`document.getElementById('summary').textContent`); !strings.Contains(got, "Fewer than 5 reports counted") { // one report: every count hidden
		t.Errorf("statistics: %q", got)
	}
	shot(t, bctx, "console-stats.png")

	// A coordinator writes a broadcast; its Telegram HTML shows as text,
	// and the bot sends the preview to the coordinators in Telegram.
	const bcText = `<b>E2E-BC</b> Stay inside tonight: <a href="https://example.org/guide?a=1&amp;b=2">the guide</a>`
	do("the broadcast form", chromedp.Navigate(strings.Split(loginURL, "/login")[0]+"/broadcasts/new"),
		chromedp.WaitVisible(chromedp.ID("compose")),
		chromedp.SetValue(chromedp.ID("countries"), "UA, GE"), chromedp.SetValue(chromedp.ID("text-en"), bcText))
	submit("create the broadcast", "#create")
	if got := eval(`document.getElementById('text-en').textContent`); got != bcText {
		t.Errorf("the broadcast's text shows as %q", got)
	}
	if eval(`String(document.querySelectorAll('#text-en *').length)`) != "0" {
		t.Fatal("the broadcast's markup was rendered in the console")
	}
	bcID := eval(`location.pathname.split('/').pop()`)
	do("the broadcasts", chromedp.Navigate(strings.Split(loginURL, "/login")[0]+"/broadcasts"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-id="`+bcID+`"][data-status="queued"]`)))
	shot(t, bctx, "console-broadcasts.png")

	// The running bot delivers the reply to the defender's chat.
	if err := api.WaitFor(fakeapi.Patience, func() bool {
		for _, a := range api.Sent(ph.chat.ID) {
			if strings.Contains(a.Text, reply) && strings.Contains(a.Text, ref) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("the reply did not reach the chat: %v", err)
	}
	// The history shows the delivery once the bot recorded it.
	if err := waitFor(fakeapi.Patience, func() bool {
		chromedp.Do(bctx, chromedp.Navigate(strings.Split(loginURL, "/login")[0]+"/case/"+ref))
		return eval(`String(document.querySelectorAll('#history .ev-delivered').length)`) == "1"
	}); err != nil {
		t.Error("the case history does not show the delivery")
	}

	// The same audit trail as the command line, under the staff name.
	audit, _, code := vigil(t, map[string]string{"REDIS_URL": env.Redis.URL(), "VIGIL_STAFF": "auditor"}, "", "triage", "audit", "--ref", ref)
	if code != 0 {
		t.Fatalf("triage audit: %d", code)
	}
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`ana\s+list`), regexp.MustCompile(`ana\s+show\s+` + ref),
		regexp.MustCompile(`ana\s+claim\s+` + ref), regexp.MustCompile(`ana\s+reply\s+` + ref), regexp.MustCompile(`ana\s+status\s+` + ref)} {
		if !want.MatchString(audit) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
	// Nothing the defender or the coordinator wrote, nor the chat, in the
	// console's log.
	for _, secret := range []string{"E2E-MARK", "هددني", "E2E-REPLY", "7001001", "resolved with", "E2E-BC"} {
		if strings.Contains(string(consoleLogs.Bytes()), secret) {
			t.Errorf("the console logged %q:\n%s", secret, consoleLogs.Bytes())
		}
	}
	// Meanwhile the bot previewed the broadcast to both coordinators.
	if err := api.WaitFor(fakeapi.Patience, func() bool {
		for _, chat := range []int64{7009001, 7009002} {
			if !slices.ContainsFunc(api.Sent(chat), func(a fakeapi.Action) bool { return strings.Contains(a.Text, "E2E-BC") }) {
				return false
			}
		}
		return true
	}); err != nil {
		t.Errorf("the preview of %s did not reach the coordinators: %v", bcID, err)
	}
	complaintsMu.Lock()
	for _, c := range complaints {
		t.Errorf("the browser complained: %s", c)
	}
	complaintsMu.Unlock()
	t.Logf("whole scenario in %v", time.Since(began).Round(time.Millisecond))
}

// chromium finds the browser, or fails the test saying how to install it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed; the console's end-to-end test needs it: apt-get install chromium")
	return ""
}

// shot writes a screenshot of the whole page as a test artifact.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("VIGIL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "var", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path, _ := filepath.Abs(filepath.Join(dir, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// phone is a defender's Telegram app talking to the bot through the fake.
type phone struct {
	t    *testing.T
	api  *fakeapi.Server
	env  *testenv.Env
	lang string
	chat models.Chat
	user models.User
}

// wait waits until the bot has done n more things in the chat.
func (p *phone) wait(before, n int) {
	p.t.Helper()
	if _, err := p.api.WaitSent(p.chat.ID, before+n, 15*time.Second); err != nil {
		p.t.Fatal(err)
	}
}

func (p *phone) send(text string, n int) {
	p.t.Helper()
	before := len(p.api.Sent(p.chat.ID))
	p.api.SendText(p.chat, p.user, text)
	p.wait(before, n)
}

// press presses the button showing the text of key (or the label itself
// for "=label") on the newest message that has it.
func (p *phone) press(key string, n int) {
	p.t.Helper()
	want := p.env.Text.T(p.lang, key, nil)
	if strings.HasPrefix(key, "=") {
		want = key[1:]
	}
	msgs := p.api.Messages(p.chat.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].ReplyMarkup == nil {
			continue
		}
		for _, row := range msgs[i].ReplyMarkup.InlineKeyboard {
			for _, b := range row {
				if strings.Contains(b.Text, want) {
					before := len(p.api.Sent(p.chat.ID))
					p.api.PressButton(p.chat, p.user, msgs[i].ID, b.CallbackData)
					p.wait(before, n)
					return
				}
			}
		}
	}
	p.t.Fatalf("no button %q on screen", want)
}

// report walks a whole report, urgent, in the phone's language, and
// returns the case reference from the receipt.
func (p *phone) report(description string) string {
	p.t.Helper()
	p.send("/start", 1)
	p.press("=العربية", 1)
	p.press("btn.continue", 1)
	p.press("opt.danger.yes", 2) // the emergency contacts, then the next question
	p.press("opt.affected.me", 1)
	p.press("opt.what.threats", 1)
	p.press("opt.what.detention", 1)
	p.press("btn.done", 1)
	p.press("opt.when.this_week", 1)
	p.press("="+p.env.Text.Region(p.lang, "UA"), 1)
	p.send("أوديسا", 1)
	p.press("opt.perpetrator.police", 1)
	p.press("btn.done", 1)
	p.send(description, 1)
	p.press("btn.done", 1)
	p.press("btn.skip", 1) // evidence
	p.press("opt.help.legal", 1)
	p.press("btn.done", 1)
	p.press("opt.consent.contact_first", 1)
	p.press("opt.contact.yes", 1)
	p.send("Signal بعد السادسة", 1) // the review follows
	before := len(p.api.Sent(p.chat.ID))
	p.press("btn.send", 1)
	receipt := p.api.Sent(p.chat.ID)[before].Text
	for i := 0; i+9 <= len(receipt); i++ {
		if ref, ok := flows.ParseRef(receipt[i : i+9]); ok && receipt[i+4] == '-' {
			return ref
		}
	}
	p.t.Fatalf("no reference in the receipt %q", receipt)
	return ""
}
