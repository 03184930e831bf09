package seal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"

	"filippo.io/age"
	"filippo.io/age/plugin"

	"github.com/vigil-hrd/vigil/internal/textsafe"
)

// Hardware keys (a YubiKey through age-plugin-yubikey, or any age plugin)
// reach Vigil through age's plugin protocol: an identity line
// AGE-PLUGIN-NAME-1… and a recipient age1name1… are handed to the program
// age-plugin-name, found on PATH, which does the work on the device. Nothing
// of a plugin's talk is logged: its messages go to the staff member's
// terminal (Terminal), and a recipient's plugin (sealing, on the bot server)
// has nobody to talk to, so its questions are refused.

// Terminal is the staff member's terminal, where age plugins talk to them:
// their messages ("touch your key") are written to the writer given to
// NewTerminal, one line each, and their questions (a PIN) are asked on the
// controlling terminal (/dev/tty), as the age command asks them, so that
// standard input and output stay free. One plugin runs at a time per
// Terminal, so that two decryptions never ask for a touch or a PIN at once.
type Terminal struct {
	out io.Writer
	ui  *plugin.ClientUI
	mu  sync.Mutex // one plugin at a time
	wmu sync.Mutex // one line at a time: the wait timer writes from its own goroutine
}

// NewTerminal returns the Terminal that writes plugins' messages to out: the
// staff member's terminal (standard error), never a log. Control characters
// in them are shown escaped (textsafe.TerminalLine), never obeyed.
func NewTerminal(out io.Writer) *Terminal {
	t := &Terminal{out: out}
	say := func(format string, v ...any) {
		t.wmu.Lock()
		defer t.wmu.Unlock()
		fmt.Fprintf(t.out, "vigil: %s\n", textsafe.TerminalLine(fmt.Sprintf(format, v...)))
	}
	t.ui = plugin.NewTerminalUI(say, say)
	return t
}

// PluginError is an age plugin failing to open a file: the plugin is not
// installed, the hardware key is absent, a PIN was refused. It says nothing
// about the file, which may be intact.
type PluginError struct {
	Plugin string // the plugin's name: "yubikey" for age-plugin-yubikey
	Err    error
}

func (e *PluginError) Error() string {
	return fmt.Sprintf("seal: the age plugin %s could not open the file: %s", e.Plugin, textsafe.TerminalLine(e.Err.Error()))
}

func (e *PluginError) Unwrap() error { return e.Err }

// pluginIdentity is a plugin identity that runs its plugin under its
// Terminal's lock and reports the plugin's failures as PluginError.
type pluginIdentity struct {
	id        *plugin.Identity
	term      *Terminal
	recipient string // from the identity file's comment, "" if none: for fingerprints only
}

func (p *pluginIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	p.term.mu.Lock()
	defer p.term.mu.Unlock()
	key, err := p.id.Unwrap(stanzas)
	if err != nil && !errors.Is(err, age.ErrIncorrectIdentity) {
		return nil, &PluginError{Plugin: p.id.Name(), Err: err}
	}
	return key, err
}

// parseIdentities reads an identity file as `age -i` does: native keys
// (AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1…) and, with a Terminal, plugin
// identities (AGE-PLUGIN-…), whose plugin must be installed. Errors name
// lines, never their content: it is secret.
func parseIdentities(r io.Reader, term *Terminal) ([]Identity, error) {
	var ids []Identity
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	sc.Buffer(nil, 1<<20)
	recipient := "" // the public key named by the comment above the line
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[len(f)-1], "age1") {
				recipient = f[len(f)-1]
			}
			continue
		}
		if line == "" {
			continue
		}
		var native Identity
		var err error
		switch {
		case strings.HasPrefix(line, "AGE-SECRET-KEY-1"):
			native, err = age.ParseX25519Identity(line)
		case strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1"):
			native, err = age.ParseHybridIdentity(line)
		case strings.HasPrefix(line, "AGE-PLUGIN-"):
		case strings.HasPrefix(line, "age1"):
			return nil, fmt.Errorf("line %d is a public key (age1…), not an identity: give the identity file, not the recipients file", n)
		default:
			return nil, fmt.Errorf("line %d is not an age identity (AGE-SECRET-KEY-…, AGE-PLUGIN-…)", n)
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		if native != nil {
			ids = append(ids, native)
			recipient = ""
			continue
		}
		if term == nil {
			return nil, fmt.Errorf("line %d is a hardware key's (age plugin) identity, which this program cannot use", n)
		}
		id, err := plugin.NewIdentity(line, term.ui)
		if err != nil {
			return nil, fmt.Errorf("line %d: not a valid age plugin identity", n)
		}
		if err := pluginInstalled(id.Name()); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		ids = append(ids, &pluginIdentity{id: id, term: term, recipient: recipient})
		recipient = ""
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(ids) == 0 {
		return nil, errors.New("no identities found")
	}
	return ids, nil
}

// pluginInstalled says how to install the program of plugin name when it
// is not on PATH.
func pluginInstalled(name string) error {
	if _, err := exec.LookPath("age-plugin-" + name); err != nil {
		return fmt.Errorf("the key belongs to the age plugin %s: install age-plugin-%s on this machine, in a directory on PATH", name, name)
	}
	return nil
}
