package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/internal/textsafe"
	"github.com/vigil-hrd/vigil/locales"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
)

const broadcastUsage = `usage: vigil broadcast COMMAND [flags]     (or vigil guidance COMMAND …)

  create --country XX [--country YY …] --text-file FILE [--text-file LANG:FILE …]
                          a broadcast; a FILE without LANG: is the default language.
                          Texts are Telegram HTML (<b>, <i>, <a href="…">, …).
  create --topic T …      with vigil guidance: a page for /guidance
                          (topics: digital, detention, emergency, general)
  approve ID              a second coordinator's approval (four-eyes)
  status ID               queued, approved, sending (sent/failed/remaining, time left), done
  list                    the latest broadcasts and guidance pages
  cancel ID               stop a broadcast (within a second) or withdraw a page
  show ID -i IDENTITY     print the texts, decrypted with a staff identity

Common flags: --as NAME (or VIGIL_STAFF; one of the bot's coordinators),
--json. Texts are sealed to VIGIL_RECIPIENTS_FILE and the bot's key; the bot
sends a preview to every coordinator in Telegram.

create, approve and cancel sign what you do with your SSH key: --sign-key
FILE or VIGIL_SIGNING_KEY (a private key, or a .pub held by ssh-agent); NAME
must be that key's name in the staff keyring (checked here when
VIGIL_STAFF_KEYRING is set, and always by the bot). approve signs the texts
it decrypts: give -i IDENTITY (or VIGIL_IDENTITY).
`

type textFlags []string

func (f *textFlags) String() string     { return strings.Join(*f, ",") }
func (f *textFlags) Set(v string) error { *f = append(*f, v); return nil }

// runBroadcast is the coordinators' tool. kind is store.KindBroadcast or,
// for `vigil guidance`, store.KindGuidance.
func runBroadcast(ctx context.Context, kind string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, broadcastUsage)
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet(kind+" "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, broadcastUsage) }
	var countries, texts textFlags
	var ids identityFlags
	as := fs.String("as", getenv("VIGIL_STAFF"), "your coordinator `NAME`")
	asJSON := fs.Bool("json", false, "JSON for scripts")
	topic := fs.String("topic", "", "guidance topic")
	fs.Var(&countries, "country", "ISO 3166 country `XX` (repeatable)")
	fs.Var(&texts, "text-file", "`[LANG:]FILE` (repeatable)")
	fs.Var(&ids, "i", "age identity `FILE`")
	signKey := fs.String("sign-key", "", "your SSH signing key `FILE` (or VIGIL_SIGNING_KEY)")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	one := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("usage: vigil %s %s ID", kind, sub)
		}
		return strings.ToUpper(pos[0]), nil
	}

	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rdb, err := connectStaff(cctx, getenv)
	if err != nil {
		return err
	}
	defer rdb.Close()
	st := store.New(rdb, store.Options{})
	text, err := locales.Load(locales.Source)
	if err != nil {
		return err
	}
	identities, err := loadIdentities(ids, getenv, stderr)
	if err != nil {
		return err
	}
	cfg := broadcast.Config{Store: st, Open: broadcast.Opener(identities...)}
	if sub == "create" || sub == "approve" || sub == "cancel" {
		if *as == "" {
			return errors.New("no coordinator name: give --as NAME or set VIGIL_STAFF (your name in the staff keyring)")
		}
		if sub == "approve" && len(identities) == 0 {
			return errors.New("approve signs the texts you approve, so it decrypts them: give -i IDENTITY (a staff key) or set VIGIL_IDENTITY")
		}
		signer, err := openSigner(*signKey, getenv)
		if err != nil {
			return err
		}
		defer signer.Close()
		if err := signerIs(signer, *as, getenv); err != nil {
			return err
		}
		cfg.Signer = signer
	}
	c := &broadcastCLI{kind: kind, out: stdout, json: *asJSON, text: text, who: *as}
	if sub == "create" {
		seal, err := creationSealer(cctx, st, getenv)
		if err != nil {
			return err
		}
		cfg.Seal = seal
	}
	c.svc = broadcast.New(cfg)
	if c.pol, err = c.svc.Policy(cctx); err != nil {
		return err
	}
	if sub != "status" && sub != "list" && sub != "show" && c.who == "" {
		return errors.New("no coordinator name: give --as NAME or set VIGIL_STAFF (one of the coordinators in the bot's configuration)")
	}
	switch sub {
	case "create":
		if len(pos) != 0 {
			return errors.New("usage: vigil " + kind + " create --country XX --text-file FILE …")
		}
		return c.create(cctx, *topic, countries, texts)
	case "approve":
		id, err := one()
		if err != nil {
			return err
		}
		status, needed, err := c.svc.Approve(cctx, id, c.who)
		if err != nil {
			return explain(id, err)
		}
		switch status {
		case store.PubQueued:
			fmt.Fprintf(stdout, "Approval recorded. %s needs %d more.\n", id, needed)
		case store.PubApproved:
			fmt.Fprintf(stdout, "Approved. %s is being sent: vigil broadcast status %s\n", id, id)
		default:
			fmt.Fprintf(stdout, "Approved. Guidance page %s is published; /guidance shows it.\n", id)
		}
		return nil
	case "cancel":
		id, err := one()
		if err != nil {
			return err
		}
		status, err := c.svc.Cancel(cctx, id, c.who)
		if err != nil {
			return explain(id, err)
		}
		fmt.Fprintf(stdout, "%s is %s.\n", id, status)
		return nil
	case "status":
		id, err := one()
		if err != nil {
			return err
		}
		p, err := c.svc.Get(cctx, id)
		if err != nil {
			return explain(id, err)
		}
		return c.status(p)
	case "list":
		ps, err := c.svc.List(cctx, 20)
		if err != nil {
			return err
		}
		if c.json {
			out := make([]publicationJSON, len(ps))
			for i, p := range ps {
				out[i] = c.toJSON(p)
			}
			return writeJSON(stdout, out)
		}
		if len(ps) == 0 {
			fmt.Fprintln(stdout, "No broadcasts or guidance pages yet.")
		}
		for _, p := range ps {
			fmt.Fprintln(stdout, c.line(p))
		}
		return nil
	case "show":
		id, err := one()
		if err != nil {
			return err
		}
		if len(identities) == 0 {
			return errors.New("show decrypts the texts: give -i IDENTITY (a staff key)")
		}
		p, err := c.svc.Get(cctx, id)
		if err != nil {
			return explain(id, err)
		}
		fmt.Fprintln(stdout, c.line(p))
		for _, lang := range p.Langs() {
			html, _, err := c.svc.Text(p, lang, c.pol.DefaultLang)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "\n--- %s ---\n%s\n", lang, textsafe.Terminal(html))
		}
		return nil
	}
	fmt.Fprint(stderr, broadcastUsage)
	return errUsage
}

// creationSealer seals texts to the staff recipients and the bot.
func creationSealer(ctx context.Context, st *store.Store, getenv func(string) string) (func([]byte) ([]byte, error), error) {
	path := or(getenv("VIGIL_RECIPIENTS_FILE"), "var/recipients.txt")
	recipients, err := seal.LoadRecipients(path)
	if err != nil {
		return nil, settingError("VIGIL_RECIPIENTS_FILE", "%v", err)
	}
	botKey := getenv("VIGIL_BOT_RECIPIENT")
	if botKey == "" {
		if botKey, err = intake.BotRecipient(ctx, st, recipients); errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("no bot has published its key on this Redis yet (a post-quantum one if the staff keys are), so there is no key to seal the texts for it; start `vigil bot` once")
		} else if err != nil {
			return nil, err
		}
	}
	sealer, err := broadcast.SealFor(recipients, botKey)
	if err != nil && getenv("VIGIL_BOT_RECIPIENT") != "" {
		return nil, settingError("VIGIL_BOT_RECIPIENT", "%v (give the bot's key of the staff keys' kind)", err)
	}
	return sealer, err
}

type broadcastCLI struct {
	svc  *broadcast.Service
	pol  store.Policy
	kind string
	who  string
	json bool
	text *locales.Catalog
	out  io.Writer
}

func (c *broadcastCLI) create(ctx context.Context, topic string, countries, files []string) error {
	d := broadcast.Draft{Kind: c.kind, Topic: topic, Texts: map[string]string{}}
	for _, code := range countries {
		d.Countries = append(d.Countries, strings.ToUpper(strings.TrimSpace(code)))
	}
	if len(files) == 0 {
		return errors.New("no text: give --text-file FILE (the default language) and --text-file LANG:FILE for others")
	}
	for _, f := range files {
		lang, path, ok := strings.Cut(f, ":")
		if !ok {
			lang, path = c.pol.DefaultLang, f
		}
		if _, ok := d.Texts[lang]; ok {
			return fmt.Errorf("two texts in %s", lang)
		}
		if c.text.Match(lang) != lang {
			return fmt.Errorf("%s: not one of the bot's languages", lang)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		d.Texts[lang] = strings.TrimSpace(string(raw))
	}
	p, needed, err := c.svc.Create(ctx, c.who, d)
	if err != nil {
		return err
	}
	if c.json {
		return writeJSON(c.out, c.toJSON(p))
	}
	fmt.Fprintln(c.out, c.line(p))
	fmt.Fprintln(c.out, "The bot sends a preview to every coordinator in Telegram, exactly as subscribers will see it.")
	if needed == 0 {
		fmt.Fprintf(c.out, "Check it, then approve it: vigil %s approve %s\n", c.kind, p.ID)
	} else {
		fmt.Fprintf(c.out, "It needs %d approval(s) by another coordinator: vigil %s approve %s\n", needed, c.kind, p.ID)
	}
	return nil
}

func (c *broadcastCLI) line(p store.Publication) string {
	what := p.Kind
	if p.Topic != "" {
		what += " (" + p.Topic + ")"
	}
	return textsafe.TerminalLine(fmt.Sprintf("%s  %-22s %-10s %s  texts: %s  by %s, %s", p.ID, what, p.Status, strings.Join(p.Countries, ","),
		strings.Join(p.Langs(), ","), p.Creator, p.CreatedAt.Local().Format("2006-01-02 15:04")))
}

func (c *broadcastCLI) status(p store.Publication) error {
	if c.json {
		return writeJSON(c.out, c.toJSON(p))
	}
	fmt.Fprintln(c.out, c.line(p))
	if n := broadcast.Needed(p, c.pol); n > 0 {
		fmt.Fprintf(c.out, "waiting for %d more approval(s)", n)
		if !p.Previewed {
			fmt.Fprint(c.out, "; the preview has not been sent yet (is a bot running?)")
		}
		fmt.Fprintln(c.out)
	}
	if len(p.Approvers) > 0 {
		fmt.Fprintf(c.out, "approved by %s\n", textsafe.TerminalLine(strings.Join(p.Approvers, ", ")))
	}
	if p.Kind == store.KindBroadcast && p.Total > 0 {
		fmt.Fprintf(c.out, "sent %d of %d, failed %d, blocked (unsubscribed) %d, left before their turn %d, remaining %d\n",
			p.Sent, p.Total, p.Failed, p.Blocked, p.Skipped, p.Remaining+p.InFlight)
	}
	if p.Status == store.PubSending {
		fmt.Fprintf(c.out, "about %s left at %g messages a second\n", broadcast.Left(p, c.pol.Rate).Round(time.Second), c.pol.Rate)
	}
	if p.Problem != "" {
		fmt.Fprintf(c.out, "problem: %s\n", textsafe.TerminalLine(p.Problem))
	}
	if p.CancelledBy != "" {
		fmt.Fprintf(c.out, "stopped by %s\n", textsafe.TerminalLine(p.CancelledBy))
	}
	return nil
}

type publicationJSON struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Topic      string    `json:"topic,omitempty"`
	Countries  []string  `json:"countries"`
	Languages  []string  `json:"languages"`
	Creator    string    `json:"creator"`
	Approvers  []string  `json:"approvers"`
	Needed     int       `json:"approvals_needed"`
	CreatedAt  time.Time `json:"created_at"`
	Total      int64     `json:"total"`
	Sent       int64     `json:"sent"`
	Failed     int64     `json:"failed"`
	Blocked    int64     `json:"blocked"`
	Skipped    int64     `json:"skipped"`
	Remaining  int64     `json:"remaining"`
	SecondLeft float64   `json:"seconds_left"`
	Problem    string    `json:"problem,omitempty"`
}

func (c *broadcastCLI) toJSON(p store.Publication) publicationJSON {
	return publicationJSON{ID: p.ID, Kind: p.Kind, Status: p.Status, Topic: p.Topic, Countries: nonNilList(p.Countries),
		Languages: nonNilList(p.Langs()), Creator: p.Creator, Approvers: nonNilList(p.Approvers), Needed: broadcast.Needed(p, c.pol),
		CreatedAt: p.CreatedAt, Total: p.Total, Sent: p.Sent, Failed: p.Failed, Blocked: p.Blocked, Skipped: p.Skipped,
		Remaining: p.Remaining + p.InFlight, SecondLeft: broadcast.Left(p, c.pol.Rate).Seconds(), Problem: p.Problem}
}

func nonNilList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// explain turns a refusal into a sentence for the coordinator.
func explain(id string, err error) error {
	var state *store.StateError
	switch {
	case errors.Is(err, store.ErrNoPublication):
		return fmt.Errorf("there is no broadcast or guidance page %s (vigil broadcast list shows them)", id)
	case errors.Is(err, store.ErrOwnApproval):
		return fmt.Errorf("you created %s, so another coordinator must approve it", id)
	case errors.Is(err, store.ErrApprovedTwice):
		return fmt.Errorf("you have already approved %s", id)
	case errors.Is(err, store.ErrNotPreviewed):
		return fmt.Errorf("the bot has not sent the preview of %s to the coordinators yet; approve once you have seen it", id)
	case errors.Is(err, store.ErrNotReached):
		return fmt.Errorf("the preview of %s did not reach you in Telegram (the bot could not write to you when it was sent), so you cannot approve it; a coordinator who received it can, or create it again once you have started a chat with the bot", id)
	case errors.As(err, &state):
		return fmt.Errorf("%s cannot be changed now: it is %s", id, state.Status)
	}
	return err
}

// signerIs refuses a key that the staff keyring (VIGIL_STAFF_KEYRING, when
// set here) does not list under name: --as is a name, the key is the proof,
// and the bot would not count what it signs anyway.
func signerIs(signer *sign.Signer, name string, getenv func(string) string) error {
	trust, err := staffKeyring(getenv)
	if err != nil || trust == nil {
		return err
	}
	e, ok := trust.Keyring().ByKey(signer.PublicKey())
	if !ok {
		return settingError("VIGIL_SIGNING_KEY", "this key is not in the staff keyring %s: ask whoever keeps it to add your .pub line", getenv("VIGIL_STAFF_KEYRING"))
	}
	if e.Name != name {
		return fmt.Errorf("--as %s, but the signing key is %s's in the staff keyring: act under your own name, with your own key", textsafe.TerminalLine(name), e.Name)
	}
	return nil
}
