package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/internal/disclosure"
	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/locales"
	"github.com/vigil-hrd/vigil/response"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
	"github.com/vigil-hrd/vigil/triage"
)

const triageUsage = `usage: vigil triage COMMAND [flags]

  list [--status S|all] [--urgent] [--country XX] [--category C] [--since DATE]
       [--assignee NAME | --mine] [--page N] [--limit N] [--sort due]
                                --sort due: by time left on the response clock,
                                most overdue first (docs/response-times.md)
  show REF                      the whole case, decrypted, with its history
  raw REF                       the stored age file, to stdout
  files REF -o DIR              decrypt the evidence files, verifying their SHA-256
  claim REF | release REF       take or give up a case
  assign REF STAFF              give a case to someone
  status REF STATUS [--reason TEXT]
                                new, triaged, in-progress, waiting-defender, closed
  note REF TEXT                 an internal note, sealed to the staff
  reply REF TEXT [--sign-key FILE]
                                a message to the defender, through the bot, signed
                                with your SSH key (VIGIL_SIGNING_KEY; docs/signing.md)
  trust-bot-key KEY             accept a new bot reply key (age1…) after a real rotation
  export -o FILE [--format json|csv] [--since DATE] [--until DATE]
  stats [--by country|category|month|perpetrator] [--since DATE] [--until DATE]
        [--csv] [--chart FILE.svg|FILE.png] [--min-count N] [--unsuppressed]
                                counts below N (VIGIL_STATS_MIN_COUNT, default 5)
                                show as <N; --unsuppressed shows them, audited
                                (docs/statistics.md)
  stats --response [--since DATE] [--until DATE] [--csv] [--min-count N] [--unsuppressed]
                                per month: cases, median and 90th percentile
                                time to claim and to first reply; a month of
                                fewer than N cases shows <N
  purge --closed-before DATE [--yes]
  audit [--ref REF] [--verify [--keyring FILE]]
                                --verify checks signed entries against the staff
                                keyring (FILE, or VIGIL_STAFF_KEYRING)
  serve [--listen 127.0.0.1:8765] [--allow-remote] [--host NAME]… [--poll 5s]
                                the console in your browser; prints a one-time address.
                                It answers only requests addressed to the --listen
                                host (and loopback names on loopback or 0.0.0.0) or
                                to a --host NAME[:PORT] (repeatable, or comma separated)

Common flags: -i IDENTITY (repeatable; or VIGIL_IDENTITY), --as NAME (or
VIGIL_STAFF), --json. Notes and replies are sealed to VIGIL_RECIPIENTS_FILE.
The bot's reply key is pinned on first use in VIGIL_KNOWN_BOT (default
$XDG_CONFIG_HOME/vigil/known_bot), unless VIGIL_BOT_RECIPIENT gives it.
`

// identityFlags collects repeated -i flags.
type identityFlags []string

func (f *identityFlags) String() string     { return strings.Join(*f, ",") }
func (f *identityFlags) Set(v string) error { *f = append(*f, v); return nil }

// hostFlags collects --host, repeated or comma separated.
type hostFlags []string

func (f *hostFlags) String() string { return strings.Join(*f, ",") }
func (f *hostFlags) Set(v string) error {
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			*f = append(*f, h)
		}
	}
	return nil
}

type triageFlags struct {
	ids                           identityFlags
	as                            string
	json, urgent, mine, yes, csv  bool
	status, country, category     string
	since, until, closedBefore    string
	assignee, reason, out, format string
	by, chartFile, ref, sort      string
	response                      bool
	page, limit                   int
	listen                        string
	allowRemote                   bool
	hosts                         hostFlags
	poll                          time.Duration
	signKey, keyring              string
	verify                        bool
	minCount                      int  // k of the statistics, resolved from --min-count or VIGIL_STATS_MIN_COUNT
	unsuppressed                  bool // stats: true counts, for the staff member's eyes only
}

// runTriage is the staff tool. Decryption happens here, with the staff member's
// identity; the bot never holds it.
func runTriage(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, triageUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	var f triageFlags
	fs := flag.NewFlagSet("triage "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, triageUsage) }
	fs.Var(&f.ids, "i", "age identity `FILE` (repeatable)")
	fs.StringVar(&f.as, "as", getenv("VIGIL_STAFF"), "your staff `NAME`, recorded on every action")
	fs.BoolVar(&f.json, "json", false, "JSON for scripts")
	fs.StringVar(&f.status, "status", "", "")
	fs.BoolVar(&f.urgent, "urgent", false, "")
	fs.StringVar(&f.country, "country", "", "")
	fs.StringVar(&f.category, "category", "", "")
	fs.StringVar(&f.since, "since", "", "")
	fs.StringVar(&f.until, "until", "", "")
	fs.StringVar(&f.assignee, "assignee", "", "")
	fs.BoolVar(&f.mine, "mine", false, "")
	fs.IntVar(&f.page, "page", 1, "")
	fs.IntVar(&f.limit, "limit", 50, "")
	fs.StringVar(&f.reason, "reason", "", "")
	fs.StringVar(&f.out, "o", "", "")
	fs.StringVar(&f.format, "format", "json", "")
	fs.StringVar(&f.by, "by", "country", "")
	fs.StringVar(&f.sort, "sort", "", "")
	fs.BoolVar(&f.response, "response", false, "")
	fs.BoolVar(&f.csv, "csv", false, "")
	fs.StringVar(&f.chartFile, "chart", "", "")
	fs.StringVar(&f.closedBefore, "closed-before", "", "")
	fs.BoolVar(&f.yes, "yes", false, "")
	fs.StringVar(&f.ref, "ref", "", "")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8765", "")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "")
	fs.Var(&f.hosts, "host", "")
	fs.DurationVar(&f.poll, "poll", 5*time.Second, "")
	fs.StringVar(&f.signKey, "sign-key", "", "")
	fs.StringVar(&f.keyring, "keyring", "", "")
	fs.BoolVar(&f.verify, "verify", false, "")
	fs.IntVar(&f.minCount, "min-count", 0, "")
	fs.BoolVar(&f.unsuppressed, "unsuppressed", false, "")
	// Flags may come before or after the positional arguments.
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if f.minCount, err = statsMinCount(fs, f.minCount, getenv); err != nil {
		return err
	}
	if len(f.ids) == 0 && getenv("VIGIL_IDENTITY") != "" {
		f.ids = append(f.ids, getenv("VIGIL_IDENTITY"))
	}

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rdb, err := connectStaff(cctx, getenv)
	if err != nil {
		return err
	}
	defer rdb.Close()
	text, err := locales.Load(locales.Source)
	if err != nil {
		return err
	}
	ids, err := loadIdentities(f.ids, getenv, stderr)
	if err != nil {
		return err
	}
	var recipients *seal.Recipients
	if p := or(getenv("VIGIL_RECIPIENTS_FILE"), "var/recipients.txt"); fileExists(p) {
		if recipients, err = seal.LoadRecipients(p); err != nil {
			return settingError("VIGIL_RECIPIENTS_FILE", "%v", err)
		}
	}
	lease := 24 * time.Hour
	if v := getenv("VIGIL_CLAIM_LEASE"); v != "" {
		if lease, err = time.ParseDuration(v); err != nil || lease <= 0 {
			return settingError("VIGIL_CLAIM_LEASE", "want a duration such as 24h")
		}
	}
	targets, err := responseTargets(getenv)
	if err != nil {
		return err
	}
	staff := f.as
	if sub == "raw" && staff == "" {
		staff = "-" // raw decrypts nothing
	}
	st := store.New(rdb, store.Options{})
	tcfg := triage.Config{
		Store: st, Identities: ids, Recipients: recipients,
		Staff: staff, Lease: lease, BotRecipient: getenv("VIGIL_BOT_RECIPIENT"), Targets: targets,
	}
	// Replies (from the command line, or the browser console when it has a
	// signing key) are signed with the staff member's key and sealed to
	// the pinned bot key.
	replies := sub == "reply" || (sub == "serve" && (f.signKey != "" || getenv("VIGIL_SIGNING_KEY") != ""))
	if replies || sub == "trust-bot-key" {
		if tcfg.KnownBotFile, err = knownBotFile(getenv); err != nil {
			return err
		}
	}
	if replies {
		signer, err := openSigner(f.signKey, getenv)
		if err != nil {
			return err
		}
		defer signer.Close()
		tcfg.Signer = signer
	}
	svc, err := triage.New(tcfg)
	if err != nil {
		return err
	}
	t := &triageCLI{svc: svc, text: text, f: f, out: stdout, errw: stderr, in: stdin, staff: staff,
		store: st, ids: ids, recipients: recipients, botRecipient: getenv("VIGIL_BOT_RECIPIENT"),
		signingKey: getenv("VIGIL_SIGNING_KEY"), getenv: getenv}
	want := func(n int, usage string) error {
		if len(pos) != n {
			return fmt.Errorf("usage: vigil triage %s", usage)
		}
		return nil
	}
	switch sub {
	case "list":
		return t.list(ctx)
	case "show":
		if err := want(1, "show REF"); err != nil {
			return err
		}
		return t.show(ctx, pos[0])
	case "raw":
		if err := want(1, "raw REF"); err != nil {
			return err
		}
		raw, err := svc.Raw(ctx, pos[0])
		if err != nil {
			return err
		}
		_, err = stdout.Write(raw)
		return err
	case "claim", "release":
		if err := want(1, sub+" REF"); err != nil {
			return err
		}
		if sub == "claim" {
			err = svc.Claim(ctx, pos[0])
		} else {
			err = svc.Release(ctx, pos[0])
		}
		return t.done(err, "%s case %s", map[string]string{"claim": "claimed", "release": "released"}[sub], strings.ToUpper(pos[0]))
	case "assign":
		if err := want(2, "assign REF STAFF"); err != nil {
			return err
		}
		return t.done(svc.Assign(ctx, pos[0], pos[1]), "assigned case %s to %s", strings.ToUpper(pos[0]), pos[1])
	case "status":
		if err := want(2, "status REF STATUS [--reason TEXT]"); err != nil {
			return err
		}
		return t.done(svc.SetStatus(ctx, pos[0], pos[1], f.reason), "case %s is now %s", strings.ToUpper(pos[0]), pos[1])
	case "note":
		if len(pos) < 2 {
			return errors.New("usage: vigil triage note REF TEXT")
		}
		return t.done(svc.Note(ctx, pos[0], strings.Join(pos[1:], " ")), "note added to case %s", strings.ToUpper(pos[0]))
	case "reply":
		if len(pos) < 2 {
			return errors.New("usage: vigil triage reply REF TEXT")
		}
		return t.done(svc.Reply(ctx, pos[0], strings.Join(pos[1:], " ")), "reply to case %s queued; the bot delivers it and `show` records the delivery", strings.ToUpper(pos[0]))
	case "files":
		if err := want(1, "files REF -o DIR"); err != nil {
			return err
		}
		if f.out == "" {
			return errors.New("usage: vigil triage files REF -o DIR")
		}
		return t.files(ctx, pos[0])
	case "export":
		return t.export(ctx)
	case "stats":
		return t.stats(ctx)
	case "purge":
		return t.purge(ctx)
	case "audit":
		if t.f.verify {
			return t.verifyAudit(ctx, or(f.keyring, getenv("VIGIL_STAFF_KEYRING")))
		}
		return t.audit(ctx)
	case "trust-bot-key":
		if err := want(1, "trust-bot-key KEY"); err != nil {
			return err
		}
		if err := triage.TrustBotKey(tcfg.KnownBotFile, pos[0]); err != nil {
			return err
		}
		return t.done(nil, "replies are now sealed to the bot key %s (pinned in %s)", pos[0], tcfg.KnownBotFile)
	case "serve":
		if err := want(0, "serve [--listen ADDR] [--allow-remote] [--host NAME]…"); err != nil {
			return err
		}
		return t.serve(ctx, len(ids) > 0, recipients != nil)
	default:
		fmt.Fprint(stderr, triageUsage)
		return fmt.Errorf("unknown triage command %q", sub)
	}
}

type triageCLI struct {
	svc   *triage.Service
	text  *locales.Catalog
	f     triageFlags
	out   io.Writer
	errw  io.Writer
	in    io.Reader
	staff string
	// What the console's Broadcasts page needs besides svc.
	store        *store.Store
	ids          []seal.Identity
	recipients   *seal.Recipients // nil without a recipients file
	botRecipient string           // VIGIL_BOT_RECIPIENT; "" reads the bot's key from Redis
	signingKey   string           // VIGIL_SIGNING_KEY: the Broadcasts page signs with it
	getenv       func(string) string
}

func (t *triageCLI) done(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if t.f.json {
		return writeJSON(t.out, map[string]any{"ok": true, "message": fmt.Sprintf(format, args...)})
	}
	fmt.Fprintln(t.out, textsafe.TerminalLine(fmt.Sprintf(format, args...)))
	return nil
}

func parseDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s: want a date like 2026-01-31 or 2026-01-31T12:00:00Z", name)
}

// span reads --since and --until.
func (t *triageCLI) span() (since, until time.Time, err error) {
	if since, err = parseDate("since", t.f.since); err != nil {
		return
	}
	until, err = parseDate("until", t.f.until)
	return
}

func (t *triageCLI) list(ctx context.Context) error {
	since, err := parseDate("since", t.f.since)
	if err != nil {
		return err
	}
	assignee := t.f.assignee
	if t.f.mine {
		assignee = t.staff
	}
	if t.f.page < 1 || t.f.limit < 1 {
		return errors.New("--page and --limit start at 1")
	}
	var order triage.Order
	switch t.f.sort {
	case "", "received":
	case "due":
		order = triage.OrderDue
	default:
		return fmt.Errorf("--sort: due (time left, most overdue first) or received, not %q", t.f.sort)
	}
	cases, more, err := t.svc.List(ctx, triage.Filter{Status: t.f.status, Urgent: t.f.urgent, Country: t.f.country,
		Category: t.f.category, Since: since, Assignee: assignee, Order: order}, (t.f.page-1)*t.f.limit, t.f.limit)
	if err != nil {
		return err
	}
	if t.f.json {
		rows := make([]caseJSON, len(cases))
		for i, c := range cases {
			rows[i] = toJSON(c)
		}
		return writeJSON(t.out, map[string]any{"page": t.f.page, "more": more, "cases": rows})
	}
	if len(cases) == 0 {
		fmt.Fprintln(t.out, "No cases match.")
		return nil
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REF\tRECEIVED\t\tURGENT\tSTATUS\tCLOCK\tASSIGNEE\tLANG\tCATEGORY\tCOUNTRY")
	now := time.Now()
	for _, c := range cases {
		urgent := ""
		if c.Urgent {
			urgent = "URGENT"
		}
		holder := c.HeldBy()
		if c.Lapsed {
			holder = "(" + c.Assignee + ", lapsed)"
		}
		received := c.ReceivedAt.Local()
		row := []string{c.Ref, ago(now.Sub(received)), received.Format("2006-01-02 15:04"), urgent, c.Status, orDash(clockText(c.Clock)), orDash(holder)}
		if c.Report == nil {
			row = append(row, "", "", c.Problem)
		} else {
			category := strings.Join(answersOf(c.Report, "what"), ",")
			if ck := flows.CheckinCategory(c.Report); ck != "" {
				category = ck
			}
			row = append(row, c.Report.Language, orDash(category), orDash(str(c.Report.Answers[flows.QCountry])))
		}
		fmt.Fprintln(w, tableRow(row))
	}
	w.Flush()
	if more {
		fmt.Fprintf(t.out, "Page %d. More: --page %d\n", t.f.page, t.f.page+1)
	}
	return nil
}

// clockText is a case's response clock for people: the next deadline and
// the time left, "claim: 2h 10m left" or "reply: overdue 35m"; "" for a
// closed case or one whose deadlines are met.
func clockText(k response.Clock) string {
	if !k.Running {
		return ""
	}
	return k.Next + ": " + response.Describe(k)
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// caseJSON is a case for scripts.
type caseJSON struct {
	Ref        string    `json:"ref"`
	ReceivedAt time.Time `json:"received_at"`
	Urgent     bool      `json:"urgent"`
	Status     string    `json:"status"`
	Assignee   string    `json:"assignee,omitempty"`
	Lapsed     bool      `json:"claim_lapsed,omitempty"`
	// The response clock (docs/response-times.md): both deadlines, the
	// next one not met, and whether any is past. A closed case has none.
	ClaimDue *time.Time    `json:"claim_due,omitempty"`
	ReplyDue *time.Time    `json:"reply_due,omitempty"`
	Next     string        `json:"next_deadline,omitempty"`
	Overdue  bool          `json:"overdue"`
	Report   *flows.Report `json:"report,omitempty"`
	Error    string        `json:"error,omitempty"`
}

func toJSON(c triage.Case) caseJSON {
	j := caseJSON{Ref: c.Ref, ReceivedAt: c.ReceivedAt, Urgent: c.Urgent, Status: c.Status,
		Assignee: c.Assignee, Lapsed: c.Lapsed, Report: c.Report, Error: c.Problem,
		Next: c.Clock.Next, Overdue: c.Clock.Overdue}
	if c.Status != "closed" {
		claim, reply := c.Clock.ClaimDue.UTC(), c.Clock.ReplyDue.UTC()
		j.ClaimDue, j.ReplyDue = &claim, &reply
	}
	return j
}

func (t *triageCLI) show(ctx context.Context, ref string) error {
	d, err := t.svc.Show(ctx, ref)
	if err != nil {
		return err
	}
	if t.f.json {
		type stepJSON struct {
			Type    string    `json:"type"`
			By      string    `json:"by,omitempty"`
			At      time.Time `json:"at"`
			From    string    `json:"from,omitempty"`
			To      string    `json:"to,omitempty"`
			Text    string    `json:"text,omitempty"`
			Detail  string    `json:"detail,omitempty"`
			Problem string    `json:"problem,omitempty"`
		}
		var hist []stepJSON
		for _, s := range d.History {
			hist = append(hist, stepJSON{s.Type, s.By, s.At, s.From, s.To, s.Text, s.Detail, s.Problem})
		}
		if err := writeJSON(t.out, map[string]any{"case": toJSON(d.Case), "history": hist}); err != nil {
			return err
		}
	} else {
		t.printCase(d)
	}
	if d.Problem != "" {
		return errors.New(d.Problem)
	}
	return nil
}

// printCase shows a case for people, in English (staff tools stay in
// English), in the order the questions were asked, then its history. What
// the defender and the staff wrote is printed through textsafe: one-line
// values with TerminalLine, free text with Terminal.
func (t *triageCLI) printCase(d triage.Detail) {
	w := t.out
	line := textsafe.TerminalLine
	fmt.Fprintf(w, "Case %s\n", line(d.Ref))
	fmt.Fprintf(w, "Received:  %s\n", d.ReceivedAt.Local().Format(time.RFC1123))
	fmt.Fprintf(w, "Status:    %s\n", line(d.Status))
	if h := d.HeldBy(); h != "" {
		fmt.Fprintf(w, "Held by:   %s\n", line(h))
	}
	if d.Urgent {
		fmt.Fprintln(w, "Urgent:    YES, immediate danger")
	}
	if d.Report == nil {
		fmt.Fprintf(w, "\n%s\n", textsafe.Terminal(d.Problem))
	} else {
		fmt.Fprintf(w, "Language:  %s\n\n", line(d.Report.Language))
		engine := flows.New(t.text, flows.Config{})
		for _, q := range engine.Questions() {
			v, ok := d.Report.Answers[q.ID]
			if !ok {
				continue
			}
			label := t.text.T("en", "step."+q.ID+".label", nil)
			var value string
			switch v := v.(type) {
			case nil:
				value = "(skipped)"
			case string:
				value = t.optionLabel(q, v)
			case []any:
				var labels []string
				for _, s := range answersOf(d.Report, q.ID) {
					labels = append(labels, t.optionLabel(q, s))
				}
				value = strings.Join(labels, "; ")
			}
			if (q.Kind == flows.KindLongText || q.Kind == flows.KindText) && v != nil {
				fmt.Fprintf(w, "%s:\n%s\n\n", label, indent(textsafe.Terminal(value)))
				continue
			}
			fmt.Fprintf(w, "%s: %s\n", label, line(value))
		}
	}
	if d.Report != nil && len(d.Report.Evidence) > 0 {
		fmt.Fprintf(w, "\nEvidence (%d files; vigil triage files %s -o DIR):\n", len(d.Report.Evidence), line(d.Ref))
		for i, e := range d.Report.Evidence {
			name := e.Name
			if name == "" {
				name = "(" + e.Kind + ")"
			}
			note := ""
			if e.AsDescription {
				note = "  [voice note in place of the description]"
			}
			fmt.Fprintf(w, "  %2d  %-10s %-30s %9d bytes  %s  received %s%s\n", i+1, line(e.Kind), line(name), e.Size, line(e.MIME),
				e.ReceivedAt.Local().Format("2006-01-02 15:04"), note)
			fmt.Fprintf(w, "      sha256 %s\n", line(e.SHA256))
			if e.Caption != "" {
				fmt.Fprintf(w, "      caption: %s\n", line(e.Caption))
			}
		}
	}
	if len(d.History) > 0 {
		fmt.Fprintln(w, "\nHistory:")
	}
	for _, s := range d.History {
		when := s.At.Local().Format("2006-01-02 15:04")
		who := s.By
		if who == "" {
			who = "defender"
			if s.Type == "delivered" || s.Type == "undeliverable" {
				who = "bot"
			}
		}
		step := fmt.Sprintf("  %s  %-9s %s", when, line(who), line(s.Type))
		switch s.Type {
		case "status":
			step += fmt.Sprintf(": %s -> %s", line(s.From), line(s.To))
		case "claim", "assign", "release":
			step += fmt.Sprintf(": %s -> %s", line(orDash(s.From)), line(orDash(s.To)))
		case "undeliverable":
			step += ": " + line(s.Detail)
		}
		fmt.Fprintln(w, step)
		if s.Text != "" {
			fmt.Fprintln(w, indent("    "+strings.ReplaceAll(textsafe.Terminal(s.Text), "\n", "\n    ")))
		}
		if s.Problem != "" {
			fmt.Fprintln(w, "      ("+line(s.Problem)+")")
		}
	}
}

func (t *triageCLI) optionLabel(q flows.Question, v string) string {
	switch {
	case q.Kind == flows.KindText || q.Kind == flows.KindLongText:
		return v
	case q.Regions && v != "other":
		return t.text.Region("en", v) + " (" + v + ")"
	}
	return t.text.T("en", "opt."+q.ID+"."+v, nil)
}

func (t *triageCLI) label(dimension, key string) string {
	switch dimension {
	case "country":
		if key == "other" {
			return t.text.T("en", "opt.country.other", nil)
		}
		return t.text.Region("en", key) + " (" + key + ")"
	case "category":
		return t.text.T("en", "opt.what."+key, nil)
	case "perpetrator":
		return t.text.T("en", "opt.perpetrator."+key, nil)
	}
	return key
}

func (t *triageCLI) files(ctx context.Context, ref string) error {
	results, err := t.svc.Files(ctx, ref, t.f.out)
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range results {
		if r.Problem != "" {
			bad++
		}
	}
	if t.f.json {
		if err := writeJSON(t.out, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			status := "verified"
			if r.Problem != "" {
				status = "PROBLEM: " + r.Problem
			}
			fmt.Fprintf(t.out, "%2d  %-40s %10d bytes  sha256 %s  %s\n", r.Index+1, textsafe.TerminalLine(orDash(r.Path)), r.Size, r.SHA256,
				textsafe.TerminalLine(status))
		}
	}
	fmt.Fprintf(t.errw, "WARNING: %s now holds decrypted evidence. Keep it on an encrypted disk and delete it when you are done.\n", t.f.out)
	if bad > 0 {
		return fmt.Errorf("%d of %d files failed verification", bad, len(results))
	}
	return nil
}

func (t *triageCLI) export(ctx context.Context) error {
	if t.f.out == "" {
		return errors.New("usage: vigil triage export -o FILE [--format json|csv] [--since DATE] [--until DATE]")
	}
	if t.f.format != "json" && t.f.format != "csv" {
		return fmt.Errorf("--format: json or csv, not %q", t.f.format)
	}
	since, until, err := t.span()
	if err != nil {
		return err
	}
	cases, err := t.svc.Export(ctx, since, until)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(t.f.out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if t.f.format == "csv" {
		err = triage.WriteCSV(f, cases)
	} else {
		err = triage.WriteJSON(f, cases)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", t.f.out, err)
	}
	fmt.Fprintf(t.errw, "WARNING: %s holds %d decrypted reports in plain text. Keep it on an encrypted disk, share it only through the mission's secure channels, and delete it when you are done.\n", t.f.out, len(cases))
	fmt.Fprintf(t.out, "exported %d cases to %s\n", len(cases), t.f.out)
	return nil
}

// statsMinCount is the threshold k of the statistics: --min-count when
// given, else VIGIL_STATS_MIN_COUNT, else 5. Each is refused below 2, the
// error naming it. The setting is checked even when the flag overrides
// it, so that a mistake in it is found at once.
func statsMinCount(fs *flag.FlagSet, flagged int, getenv func(string) string) (int, error) {
	k, err := disclosure.ParseMinCount(getenv("VIGIL_STATS_MIN_COUNT"))
	if err != nil {
		return 0, settingError("VIGIL_STATS_MIN_COUNT", "%v", err)
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "min-count" {
			k, err = flagged, disclosure.CheckMinCount(flagged)
		}
	})
	if err != nil {
		return 0, settingError("--min-count", "%v", err)
	}
	return k, nil
}

// unsuppressedWarning is printed to standard error by stats --unsuppressed.
const unsuppressedWarning = "WARNING: counts below %d can identify people; do not share this output.\n"

// stats prints the counts of one dimension with small counts suppressed
// (triage.Stats.Suppress): as a table, --csv or --json, and as a chart
// with --chart. Every output shows the same cells as "<k". With
// --unsuppressed it shows the true counts, after warning on standard
// error and recording in the audit trail who asked, when and with which
// command (never a count).
func (t *triageCLI) stats(ctx context.Context) error {
	since, until, err := t.span()
	if err != nil {
		return err
	}
	if t.f.response && t.f.chartFile != "" {
		return errors.New("--chart draws counts of reports; it does not go with --response")
	}
	if t.f.unsuppressed {
		fmt.Fprintf(t.errw, unsuppressedWarning, t.f.minCount)
		if err := t.svc.AuditUnsuppressed(ctx, t.statsCommand()); err != nil {
			return err
		}
	}
	if t.f.response {
		k := t.f.minCount
		if t.f.unsuppressed {
			k = 1 // a month of any number of cases shows its times
		}
		return t.responseStats(ctx, since, until, k)
	}
	st, err := t.svc.Count(ctx, t.f.by, since, until, t.label)
	if err != nil {
		return err
	}
	tab := st.Unsuppressed()
	if !t.f.unsuppressed {
		if tab, err = st.Suppress(t.f.minCount); err != nil {
			return settingError("--min-count", "%v", err)
		}
	}
	if t.f.chartFile != "" {
		if err := tab.Chart("Reports by "+t.f.by, period(tab)).WriteFile(t.f.chartFile); err != nil {
			return err
		}
		fmt.Fprintf(t.errw, "chart written to %s\n", t.f.chartFile)
	}
	switch {
	case t.f.json:
		enc := json.NewEncoder(t.out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // "<5", as the table and CSV show it
		return enc.Encode(tab)
	case t.f.csv:
		cw := textsafe.NewCSV(t.out)
		cw.Write([]string{t.f.by, "label", "count"})
		for _, r := range tab.Rows {
			cw.Write([]string{r.Key, r.Label, r.Display})
		}
		return cw.Flush()
	}
	fmt.Fprintf(t.out, "Reports by %s — %s\n\n", t.f.by, period(tab))
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, r := range tab.Rows {
		fmt.Fprintf(w, "%s\t%s\t\n", textsafe.TerminalLine(r.Label), r.Display)
	}
	w.Flush()
	if tab.Unreadable.Count == nil || *tab.Unreadable.Count > 0 {
		fmt.Fprintf(t.out, "\n%s reports could not be opened with this identity and are not counted.\n", tab.Unreadable.Display)
	}
	if tab.MinCount > 0 {
		fmt.Fprintf(t.out, "\n%s: fewer than %d reports, or a count hidden so that such a one cannot be worked out from the total.\n",
			disclosure.Hidden(tab.MinCount), tab.MinCount)
	}
	return nil
}

// statsCommand is the stats command line as the audit trail records it:
// the options that choose what is counted, which hold no count.
func (t *triageCLI) statsCommand() string {
	cmd := "vigil triage stats --by " + t.f.by
	if t.f.response {
		cmd = "vigil triage stats --response"
	}
	if t.f.since != "" {
		cmd += " --since " + t.f.since
	}
	if t.f.until != "" {
		cmd += " --until " + t.f.until
	}
	return cmd + " --unsuppressed"
}

func period(st triage.Table) string {
	from, to := "the first report", "now"
	if !st.Since.IsZero() {
		from = st.Since.Format("2006-01-02")
	}
	if !st.Until.IsZero() {
		to = st.Until.Format("2006-01-02")
	}
	noun := "reports"
	if st.Cases.Count != nil && *st.Cases.Count == 1 {
		noun = "report"
	}
	return fmt.Sprintf("received from %s to %s, %s %s", from, to, st.Cases.Display, noun)
}

func (t *triageCLI) purge(ctx context.Context) error {
	if t.f.closedBefore == "" {
		return errors.New("usage: vigil triage purge --closed-before DATE [--yes]")
	}
	before, err := parseDate("closed-before", t.f.closedBefore)
	if err != nil {
		return err
	}
	refs, err := t.svc.PurgePlan(ctx, before)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		fmt.Fprintf(t.out, "No case was closed before %s; nothing to delete.\n", before.Format("2006-01-02"))
		return nil
	}
	if !t.f.yes {
		fmt.Fprintf(t.out, "%d closed cases will be deleted for good, with their notes, replies and history:\n  %s\n", len(refs), strings.Join(refs, " "))
		fmt.Fprintf(t.out, "Type \"delete %d\" to confirm: ", len(refs))
		line, _ := bufio.NewReader(t.in).ReadString('\n')
		if strings.TrimSpace(line) != "delete "+strconv.Itoa(len(refs)) {
			fmt.Fprintln(t.out, "\nNothing was deleted.")
			return errors.New("purge not confirmed")
		}
	}
	n, err := t.svc.Purge(ctx, refs)
	if err != nil {
		return fmt.Errorf("deleted %d cases, then: %w", n, err)
	}
	fmt.Fprintf(t.out, "Deleted %d closed cases.\n", n)
	return nil
}

func (t *triageCLI) audit(ctx context.Context) error {
	entries, err := t.svc.Audit(ctx, t.f.ref)
	if err != nil {
		return err
	}
	if t.f.json {
		return writeJSON(t.out, entries)
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "WHEN\tWHO\tWHAT\tREF\tDETAIL")
	for _, e := range entries {
		detail := e.Detail
		if r := []rune(detail); len(r) > 60 {
			detail = string(r[:57]) + "…"
		}
		fmt.Fprintln(w, tableRow([]string{e.At.Local().Format("2006-01-02 15:04:05"), e.Who, e.What, orDash(e.Ref), detail}))
	}
	return w.Flush()
}

// tableRow is one row for a tabwriter: the cells, each through
// textsafe.TerminalLine (so that none can add a column or a line), joined
// by tabs. It changes cells in place.
func tableRow(cells []string) string {
	for i, c := range cells {
		cells[i] = textsafe.TerminalLine(c)
	}
	return strings.Join(cells, "\t")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func str(v any) string { s, _ := v.(string); return s }

func answersOf(r *flows.Report, id string) []string {
	list, _ := r.Answers[id].([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

// knownBotFile is where the staff tools pin the bot's reply key:
// VIGIL_KNOWN_BOT, or known_bot in the user's configuration directory.
func knownBotFile(getenv func(string) string) (string, error) {
	if p := getenv("VIGIL_KNOWN_BOT"); p != "" {
		return p, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" && getenv("HOME") != "" {
		dir = filepath.Join(getenv("HOME"), ".config")
	}
	if dir == "" {
		return "", settingError("VIGIL_KNOWN_BOT", "not set, and neither XDG_CONFIG_HOME nor HOME is: give the file where the bot's reply key is pinned")
	}
	return filepath.Join(dir, "vigil", "known_bot"), nil
}

// verifyAudit prints the audit trail with, for each signed action, whether
// its signature holds against the staff keyring in file: verified (by
// whom), unsigned (recorded before actions were signed) or invalid (why).
// It fails when any is invalid.
func (t *triageCLI) verifyAudit(ctx context.Context, file string) error {
	if file == "" {
		return settingError("--keyring", "give the staff keyring file to check against (or set VIGIL_STAFF_KEYRING; see docs/signing.md)")
	}
	keyring, err := sign.LoadKeyring(file)
	if err != nil {
		return err
	}
	entries, err := t.svc.Audit(ctx, t.f.ref)
	if err != nil {
		return err
	}
	verdicts := triage.VerifyAudit(entries, keyring)
	invalid := 0
	for _, v := range verdicts {
		if v.Status == "invalid" {
			invalid++
		}
	}
	if t.f.json {
		type row struct {
			ID, Who, What, Ref string
			At                 time.Time
			Signature          string `json:"signature,omitempty"` // verified, unsigned or invalid
			By                 string `json:"by,omitempty"`
			Why                string `json:"why,omitempty"`
		}
		rows := make([]row, len(verdicts))
		for i, v := range verdicts {
			rows[i] = row{ID: v.ID, Who: v.Who, What: v.What, Ref: v.Ref, At: v.At, Signature: v.Status, By: v.By, Why: v.Why}
		}
		if err := writeJSON(t.out, rows); err != nil {
			return err
		}
	} else {
		w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "WHEN\tWHO\tWHAT\tREF\tSIGNATURE")
		for _, v := range verdicts {
			verdict := v.Status
			switch v.Status {
			case "":
				verdict = "-"
			case "verified":
				verdict = "verified (" + v.By + ")"
			case "invalid":
				verdict = "invalid: " + v.Why
			}
			fmt.Fprintln(w, tableRow([]string{v.At.Local().Format("2006-01-02 15:04:05"), v.Who, v.What, orDash(v.Ref), verdict}))
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if invalid > 0 {
		return fmt.Errorf("%d signed entries do not verify against %s", invalid, file)
	}
	return nil
}
