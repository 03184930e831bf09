package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/locales"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// identityFlags collects repeated -i flags.
type identityFlags []string

func (f *identityFlags) String() string     { return strings.Join(*f, ",") }
func (f *identityFlags) Set(v string) error { *f = append(*f, v); return nil }

// triage is the staff's minimum: list the queue, show a report, dump the
// stored age file. Decryption happens here, with the staff member's identity;
// the bot never holds it.
func triage(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, "usage: vigil triage list|show|raw …\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("triage "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ids identityFlags
	fs.Var(&ids, "i", "age identity `FILE` to decrypt with (repeatable; default $VIGIL_IDENTITY)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	limit := fs.Int64("n", 0, "list at most `N` reports (0: all)")
	// Flags may come before or after the reference.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(ids) == 0 && getenv("VIGIL_IDENTITY") != "" {
		ids = append(ids, getenv("VIGIL_IDENTITY"))
	}
	redisURL := or(getenv("REDIS_URL"), "redis://127.0.0.1:6379/0")
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rdb, err := store.Connect(cctx, redisURL)
	if err != nil {
		return settingError("REDIS_URL", "%v", err)
	}
	defer rdb.Close()
	st := store.New(rdb, store.Options{})
	text, err := locales.Load(locales.Source)
	if err != nil {
		return err
	}
	t := &triager{store: st, text: text, engine: flows.New(text, flows.Config{}), out: stdout, json: *asJSON}

	switch sub {
	case "raw":
		if len(positional) != 1 {
			return fmt.Errorf("usage: vigil triage raw REF")
		}
		return t.raw(ctx, positional[0])
	case "list", "show":
		identities, err := loadIdentities(ids)
		if err != nil {
			return err
		}
		t.ids = identities
		if sub == "list" {
			return t.list(ctx, *limit)
		}
		if len(positional) != 1 {
			return fmt.Errorf("usage: vigil triage show REF -i IDENTITY")
		}
		return t.show(ctx, positional[0])
	default:
		return fmt.Errorf("unknown triage command %q (list, show, raw)", sub)
	}
}

func loadIdentities(paths []string) ([]seal.Identity, error) {
	if len(paths) == 0 {
		return nil, errors.New("no identity: give -i FILE (a staff key made by `vigil keygen`) or set VIGIL_IDENTITY")
	}
	var all []seal.Identity
	for _, p := range paths {
		ids, err := seal.LoadIdentities(p)
		if err != nil {
			return nil, err
		}
		all = append(all, ids...)
	}
	return all, nil
}

type triager struct {
	store  *store.Store
	text   *locales.Catalog
	engine *flows.Engine
	ids    []seal.Identity
	out    io.Writer
	json   bool
}

// opened is a report as staff see it.
type opened struct {
	Ref        string        `json:"ref"`
	ReceivedAt time.Time     `json:"received_at"`
	Urgent     bool          `json:"urgent"`
	Status     string        `json:"status"`
	Report     *flows.Report `json:"report,omitempty"`
	Error      string        `json:"error,omitempty"`
}

func (t *triager) open(r store.Report) opened {
	o := opened{Ref: r.Ref, ReceivedAt: r.ReceivedAt, Urgent: r.Urgent, Status: r.Status}
	raw, err := seal.Open(r.Sealed, t.ids...)
	switch {
	case errors.Is(err, seal.ErrWrongIdentity):
		o.Error = "this identity cannot open report " + r.Ref + " (it was sealed to other staff keys)"
	case err != nil:
		o.Error = "report " + r.Ref + " is damaged or was tampered with; it is not shown"
	default:
		var rep flows.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			o.Error = "report " + r.Ref + " does not decode as " + flows.ReportSchema
		} else {
			o.Report = &rep
		}
	}
	return o
}

func (t *triager) list(ctx context.Context, limit int64) error {
	queue, err := t.store.Queue(ctx, limit)
	if err != nil {
		return err
	}
	rows := make([]opened, len(queue))
	for i, r := range queue {
		rows[i] = t.open(r)
	}
	if t.json {
		return writeJSON(t.out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(t.out, "The queue is empty.")
		return nil
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "REF\tRECEIVED\tURGENT\tSTATUS\tLANG\tCOUNTRY\tWHAT")
	for _, o := range rows {
		urgent := ""
		if o.Urgent {
			urgent = "URGENT"
		}
		received := o.ReceivedAt.Local().Format("2006-01-02 15:04")
		if o.Report == nil {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t\t\t%s\n", o.Ref, received, urgent, o.Status, o.Error)
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.Ref, received, urgent, o.Status, o.Report.Language,
			orDash(str(o.Report.Answers[flows.QCountry])), orDash(strings.Join(strs(o.Report.Answers["what"]), ",")))
	}
	return w.Flush()
}

// lookup finds a report by a reference as a person typed it.
func (t *triager) lookup(ctx context.Context, ref string) (store.Report, error) {
	norm, ok := flows.ParseRef(ref)
	if !ok {
		return store.Report{}, fmt.Errorf("%q is not a case reference (8 characters, like ABCD-EF12)", ref)
	}
	r, err := t.store.Report(ctx, norm)
	if errors.Is(err, store.ErrNotFound) {
		return store.Report{}, fmt.Errorf("no report %s in the queue", norm)
	}
	return r, err
}

func (t *triager) show(ctx context.Context, ref string) error {
	r, err := t.lookup(ctx, ref)
	if err != nil {
		return err
	}
	o := t.open(r)
	if t.json {
		if err := writeJSON(t.out, o); err != nil {
			return err
		}
	} else {
		t.print(o)
	}
	if o.Error != "" {
		return errors.New(o.Error)
	}
	return nil
}

// print shows a report for people, in English (staff tools stay in English),
// in the order the questions were asked.
func (t *triager) print(o opened) {
	fmt.Fprintf(t.out, "Case %s\n", o.Ref)
	fmt.Fprintf(t.out, "Received:  %s\n", o.ReceivedAt.Local().Format(time.RFC1123))
	fmt.Fprintf(t.out, "Status:    %s\n", o.Status)
	if o.Urgent {
		fmt.Fprintln(t.out, "Urgent:    YES, immediate danger")
	}
	if o.Report == nil {
		fmt.Fprintf(t.out, "\n%s\n", o.Error)
		return
	}
	fmt.Fprintf(t.out, "Language:  %s\n\n", o.Report.Language)
	for _, q := range t.engine.Questions() {
		v, ok := o.Report.Answers[q.ID]
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
			for _, s := range strs(v) {
				labels = append(labels, t.optionLabel(q, s))
			}
			value = strings.Join(labels, "; ")
		}
		if q.Kind == flows.KindLongText || q.Kind == flows.KindText {
			fmt.Fprintf(t.out, "%s:\n%s\n\n", label, indent(value))
			continue
		}
		fmt.Fprintf(t.out, "%s: %s\n", label, value)
	}
}

func (t *triager) optionLabel(q flows.Question, v string) string {
	switch {
	case q.Kind == flows.KindText || q.Kind == flows.KindLongText:
		return v
	case q.Regions && v != "other":
		return t.text.Region("en", v) + " (" + v + ")"
	}
	return t.text.T("en", "opt."+q.ID+"."+v, nil)
}

func (t *triager) raw(ctx context.Context, ref string) error {
	r, err := t.lookup(ctx, ref)
	if err != nil {
		return err
	}
	_, err = t.out.Write(r.Sealed)
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func str(v any) string { s, _ := v.(string); return s }

func strs(v any) []string {
	list, _ := v.([]any)
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
