package seal_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-hrd/vigil/internal/agetest"
	"github.com/vigil-hrd/vigil/seal"
)

// The kinds of staff key: classic (X25519), post-quantum (ML-KEM-768 +
// X25519), and a hardware key's, through its age plugin (here the test
// plugin, which stands in for age-plugin-yubikey).
func newPQStaff(t *testing.T) staff {
	t.Helper()
	file, pub, err := seal.NewPostQuantumIdentity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "staff-pq.key")
	if err := seal.WriteNewFile(path, []byte(file)); err != nil {
		t.Fatal(err)
	}
	return staff{file: file, recipient: pub, path: path}
}

func newHardwareStaff(p *agetest.Plugin) func(t *testing.T) staff {
	return func(t *testing.T) staff {
		t.Helper()
		path, pub := p.NewKey(t)
		file, _ := os.ReadFile(path)
		return staff{file: string(file), recipient: pub, path: path}
	}
}

// TestEachKindOfKeySealsAndOpens: a report sealed to a classic, a
// post-quantum or a hardware key opens with its identity file and with no
// other; a hardware key's plugin talks to the terminal given (its escape
// sequences made harmless); the identity names its public key's fingerprint.
func TestEachKindOfKeySealsAndOpens(t *testing.T) {
	plug := agetest.Install(t)
	for _, tc := range []struct {
		name     string
		newStaff func(*testing.T) staff
		pq       bool
		prefix   string // of the identity line
		says     string // on the terminal, while opening
	}{
		{"classic", newStaff, false, "AGE-SECRET-KEY-1", ""},
		{"post-quantum", newPQStaff, true, "AGE-SECRET-KEY-PQ-1", ""},
		{"hardware key", newHardwareStaff(plug), false, "AGE-PLUGIN-VIGILTEST-1", "vigil: vigiltest plugin: touch your vigiltest key \\x1b[31mnow\\x1b[0m\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, eve := tc.newStaff(t), tc.newStaff(t)
			if !strings.Contains(alice.file, "\n"+tc.prefix) {
				t.Fatalf("identity file:\n%s", alice.file)
			}
			rs := recipients(t, alice)
			if rs.PostQuantum() != tc.pq {
				t.Fatalf("PostQuantum() = %v", rs.PostQuantum())
			}
			msg := []byte(`{"description":"they came at night"}`)
			sealed, err := rs.Seal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed, []byte("came at night")) {
				t.Fatal("plaintext visible in sealed output")
			}

			var term bytes.Buffer
			ids, err := seal.LoadIdentities(alice.path, seal.NewTerminal(&term))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := seal.Open(sealed, ids...); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("open: %q %v", got, err)
			}
			if term.String() != tc.says {
				t.Errorf("the terminal got %q, want %q", term.String(), tc.says)
			}
			if fp := seal.IdentityFingerprints(ids); len(fp) != 1 || fp[0] != seal.Fingerprint(alice.recipient) {
				t.Errorf("fingerprints %v, want [%s]", fp, seal.Fingerprint(alice.recipient))
			}
			eveIDs, err := seal.LoadIdentities(eve.path, seal.NewTerminal(&term))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := seal.Open(sealed, eveIDs...); !errors.Is(err, seal.ErrWrongIdentity) {
				t.Fatalf("another key of the kind: got %v, want ErrWrongIdentity", err)
			}
			r, err := seal.OpenStream(bytes.NewReader(sealed), ids...)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, err := got.ReadFrom(r); err != nil || !bytes.Equal(got.Bytes(), msg) {
				t.Fatalf("open stream: %q %v", got.Bytes(), err)
			}
		})
	}
}

// TestHardwareKeyFailures: a hardware key's identity needs a terminal and
// its plugin installed, and says so at load; a plugin that fails while
// opening is a PluginError, not a damaged file.
func TestHardwareKeyFailures(t *testing.T) {
	plug := agetest.Install(t)
	path, pub := plug.NewKey(t)
	term := seal.NewTerminal(&bytes.Buffer{})
	if _, err := seal.LoadIdentities(path, nil); err == nil || !strings.Contains(err.Error(), "line 2 is a hardware key's (age plugin) identity") {
		t.Errorf("without a terminal: %v", err)
	}
	ids, err := seal.LoadIdentities(path, term)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := seal.ParseRecipients(strings.NewReader(pub))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := rs.Seal([]byte("report"))
	if err != nil {
		t.Fatal(err)
	}

	// The plugin is uninstalled: at load, and while opening.
	if err := os.Remove(filepath.Join(plug.Dir, "age-plugin-vigiltest")); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.LoadIdentities(path, term); err == nil || !strings.Contains(err.Error(), "install age-plugin-vigiltest on this machine") {
		t.Errorf("load without the plugin: %v", err)
	}
	if _, err := seal.ParseRecipients(strings.NewReader(pub)); err == nil || !strings.Contains(err.Error(), "line 1: the key belongs to the age plugin vigiltest: install age-plugin-vigiltest") {
		t.Errorf("recipients without the plugin: %v", err)
	}
	_, err = seal.Open(sealed, ids...)
	var pe *seal.PluginError
	if !errors.As(err, &pe) || pe.Plugin != "vigiltest" || errors.Is(err, seal.ErrTampered) || errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("open with the plugin gone: %v, want a PluginError", err)
	}
	if !strings.Contains(err.Error(), "the age plugin vigiltest could not open the file") {
		t.Errorf("message: %v", err)
	}
}

// TestLoadIdentitiesRefusesWhatIsNotAnIdentity: each refusal names the
// line and what to do, never its content.
func TestLoadIdentitiesRefusesWhatIsNotAnIdentity(t *testing.T) {
	classic := newStaff(t)
	secret := strings.Split(classic.file, "\n")[1]
	for _, tc := range []struct{ name, file, want string }{
		{"a recipients file", "# staff\n" + classic.recipient + "\n", "line 2 is a public key (age1…), not an identity: give the identity file"},
		{"garbage", "hello\n", "line 1 is not an age identity"},
		{"a damaged secret key", secret[:len(secret)-1] + "q\n", "line 1: malformed secret key"},
		{"a damaged post-quantum key", "AGE-SECRET-KEY-PQ-1QQQQ\n", "line 1: malformed secret key"},
		{"a damaged plugin identity", "AGE-PLUGIN-VIGILTEST-1QQQQ\n", "line 1: not a valid age plugin identity"},
		{"nothing", "# empty\n", "no identities found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "staff.key")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := seal.LoadIdentities(path, seal.NewTerminal(&bytes.Buffer{}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			for _, line := range strings.Split(tc.file, "\n") {
				if len(line) > 4 && !strings.HasPrefix(line, "#") && strings.Contains(err.Error(), line) {
					t.Errorf("the error quotes the line: %v", err)
				}
			}
		})
	}
}

// TestParseRecipientsRefusesMixedKinds: post-quantum keys with classic or
// hardware keys are refused at load, in one line that says why and what to
// do, without quoting the 2,000-character keys; so is a bot key of the
// other kind added to the staff's.
func TestParseRecipientsRefusesMixedKinds(t *testing.T) {
	plug := agetest.Install(t)
	pq, classic := newPQStaff(t), newStaff(t)
	_, hardware := plug.NewKey(t)
	for _, tc := range []struct {
		name, file string
		pqLine     int
		otherLine  int
	}{
		{"post-quantum then classic", "# staff\n" + pq.recipient + "\n" + classic.recipient + "\n", 2, 3},
		{"classic then post-quantum", classic.recipient + "\n\n" + pq.recipient + "\n", 3, 1},
		{"post-quantum and a hardware key", pq.recipient + "\n" + hardware + "\n", 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := seal.ParseRecipients(strings.NewReader(tc.file))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			want := "line " + strconv.Itoa(tc.pqLine) + " is a post-quantum key (age1pq1…) and line " + strconv.Itoa(tc.otherLine) + " a classic one"
			for _, w := range []string{want, "the classic keys would undo the post-quantum protection", "vigil keygen --pq", "or use only classic keys"} {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q: %s", w, msg)
				}
			}
			if strings.Contains(msg, "\n") || len(msg) > 400 {
				t.Errorf("want one short line, got %d characters: %s", len(msg), msg)
			}
		})
	}

	staffPQ := recipients(t, pq)
	if _, err := staffPQ.With(classic.recipient); err == nil || !strings.Contains(err.Error(), "is classic and the recipients are post-quantum") {
		t.Errorf("a classic key with post-quantum ones: %v", err)
	}
	both, err := staffPQ.With(newPQStaff(t).recipient)
	if err != nil || len(both.Keys()) != 2 || !both.PostQuantum() || len(staffPQ.Keys()) != 1 {
		t.Fatalf("a post-quantum key with post-quantum ones: %v", err)
	}
	if _, err := both.Seal([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

// TestEitherOpensForAnyOfItsKeys: the bot's two reply keys, as one.
func TestEitherOpensForAnyOfItsKeys(t *testing.T) {
	classic, pq, other := newStaff(t), newPQStaff(t), newStaff(t)
	bot := seal.Either(append(identities(t, classic), identities(t, pq)...)...)
	for _, s := range []staff{classic, pq} {
		sealed, err := recipients(t, s).Seal([]byte("reply"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := seal.Open(sealed, bot); err != nil || string(got) != "reply" {
			t.Fatalf("%s: %q %v", s.recipient[:8], got, err)
		}
	}
	sealed, _ := recipients(t, other).Seal([]byte("reply"))
	if _, err := seal.Open(sealed, bot); !errors.Is(err, seal.ErrWrongIdentity) {
		t.Fatalf("another key: %v", err)
	}
	if fp := seal.IdentityFingerprints([]seal.Identity{bot}); len(fp) != 2 {
		t.Fatalf("fingerprints %v", fp)
	}
}

// TestStockAgeOpensEachKind: the stock age command opens what Vigil seals
// to each kind of key. Debian's age (1.1) predates post-quantum keys, so
// they are opened through age-plugin-pq, built from the age module Vigil
// uses, with the identity converted by `age-plugin-pq -identity`, as age's
// README says for older clients; an age of 1.3 or later also opens them
// directly.
func TestStockAgeOpensEachKind(t *testing.T) {
	bin, err := exec.LookPath("age")
	if err != nil {
		t.Fatal("the age command is not installed; install it with `sudo apt-get install age` (Debian/Ubuntu) or `brew install age`")
	}
	version, _ := exec.Command(bin, "--version").Output()
	plug := agetest.Install(t)
	pqPlugin := agetest.Build(t, "filippo.io/age/extra/age-plugin-pq")

	pq := newPQStaff(t)
	converted := filepath.Join(t.TempDir(), "staff-pq-plugin.key")
	if out, err := exec.Command(filepath.Join(pqPlugin, "age-plugin-pq"), "-identity", "-o", converted, pq.path).CombinedOutput(); err != nil {
		t.Fatalf("age-plugin-pq -identity: %v\n%s", err, out)
	}
	cases := []struct {
		name  string
		staff staff
		key   string // the identity file given to age -d -i
	}{
		{"classic", newStaff(t), ""},
		{"hardware key", newHardwareStaff(plug)(t), ""},
		{"post-quantum through age-plugin-pq", pq, converted},
	}
	if nativePQ(string(version)) {
		cases = append(cases, struct {
			name  string
			staff staff
			key   string
		}{"post-quantum", pq, pq.path})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte("report body ✓ تقرير")
			sealed, err := recipients(t, tc.staff).Seal(msg)
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(t.TempDir(), "report.age")
			if err := os.WriteFile(in, sealed, 0o600); err != nil {
				t.Fatal(err)
			}
			key := tc.key
			if key == "" {
				key = tc.staff.path
			}
			out, err := exec.Command(bin, "-d", "-i", key, in).Output()
			if err != nil {
				t.Fatalf("age -d (age %s): %v", strings.TrimSpace(string(version)), err)
			}
			if !bytes.Equal(out, msg) {
				t.Fatalf("age -d gave %q", out)
			}
		})
	}
}

// nativePQ reports whether `age --version` printed 1.3 or later.
func nativePQ(version string) bool {
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(version)
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major > 1 || major == 1 && minor >= 3
}
