package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vigil-hrd/vigil/broadcast"
	"github.com/vigil-hrd/vigil/intake"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/sign"
	"github.com/vigil-hrd/vigil/store"
	"github.com/vigil-hrd/vigil/triage"
	"github.com/vigil-hrd/vigil/triage/web"
)

// serve runs the staff console in the browser (package triage/web) until
// ctx ends. It listens on loopback unless --allow-remote says otherwise,
// and prints the one-time address that opens it.
func (t *triageCLI) serve(ctx context.Context, haveIdentity, haveRecipients bool) error {
	if !haveIdentity {
		return triage.ErrNoIdentity
	}
	host, _, err := net.SplitHostPort(t.f.listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT, such as 127.0.0.1:8765", t.f.listen)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if !loopback && !t.f.allowRemote {
		return fmt.Errorf("--listen %s is reachable from other machines, and the console shows decrypted reports; "+
			"listen on 127.0.0.1 and reach it through an SSH tunnel, or add --allow-remote if you really mean it", t.f.listen)
	}
	if t.f.poll < 500*time.Millisecond {
		return errors.New("--poll: at least 500ms")
	}
	for _, h := range t.f.hosts {
		if !web.ValidHost(h) {
			return fmt.Errorf("--host %q: want a host name or IP address, with an optional :PORT", h)
		}
	}
	hosts := append(consoleHosts(host, ip, loopback), t.f.hosts...)
	log := newLogger(t.errw, slog.LevelInfo, "text")
	// The Broadcasts page signs as the staff member signed in, with the
	// key given at start; without one it shows publications but refuses
	// to create, approve or stop them (broadcast.ErrNoSigner).
	var signer *sign.Signer
	if t.signingKey != "" {
		if signer, err = openSigner("", t.getenv); err != nil {
			return err
		}
		defer signer.Close()
	}
	bc, canCreate := t.broadcasts(signer)
	console, err := web.New(web.Config{Service: t.svc, Staff: t.staff, Text: t.text, Log: log,
		Poll: t.f.poll, Hosts: hosts, Broadcasts: bc, CanCreate: canCreate, MinCount: t.f.minCount})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", t.f.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	addr := l.Addr().(*net.TCPAddr)
	shown := l.Addr().String()
	if addr.IP.IsUnspecified() {
		shown = net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port))
	}
	if !loopback {
		fmt.Fprintf(t.errw, "WARNING: the console listens on %s, beyond this machine, over plain HTTP: anyone on the way "+
			"can read the reports it shows and the session cookie. Prefer 127.0.0.1 with an SSH tunnel.\n", l.Addr())
		fmt.Fprintf(t.errw, "It answers only requests addressed to %s; add the name staff type in the browser with --host NAME.\n",
			strings.Join(hosts, ", "))
	}
	if !haveRecipients {
		fmt.Fprintln(t.errw, "WARNING: no recipients file (VIGIL_RECIPIENTS_FILE): notes, reasons, replies and broadcasts cannot be sealed and will be refused.")
	}
	fmt.Fprintf(t.out, "Vigil staff console. Open this address in your browser; it works once:\n\n  http://%s%s\n\n", shown, console.LoginPath())
	fmt.Fprintln(t.errw, "Reports are decrypted in this process and shown only in the browser that opens the address. Stop with Ctrl-C.")

	srv := &http.Server{Handler: console, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintln(t.errw, "console stopped")
	return nil
}

// consoleHosts are the names the console answers to for its --listen
// address (web.Config.Hosts), before those given with --host: the listen
// host, and the loopback names on loopback; for an unspecified address
// (0.0.0.0, ::), the loopback names and this machine's addresses.
func consoleHosts(host string, ip net.IP, loopback bool) []string {
	switch {
	case ip != nil && ip.IsUnspecified(), host == "":
		hosts := web.LoopbackHosts()
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, n.IP.String())
			}
		}
		return hosts
	case loopback && !slices.Contains(web.LoopbackHosts(), host):
		return append(web.LoopbackHosts(), host)
	case loopback:
		return web.LoopbackHosts()
	}
	return []string{host}
}

// broadcasts is the coordinators' service for the console's Broadcasts
// page: texts are opened with the staff identities and sealed, as `vigil
// broadcast create` seals them, to the recipients file and the bot's
// public key. The key is looked up when a broadcast is created, so a bot
// started after the console is found; until both are there, the page's
// Create says what to set and the rest of the page works.
func (t *triageCLI) broadcasts(signer *sign.Signer) (*broadcast.Service, func(context.Context) error) {
	k := &consoleSealer{store: t.store, staff: t.recipients, bot: t.botRecipient}
	return broadcast.New(broadcast.Config{Store: t.store, Seal: k.seal, Open: broadcast.Opener(t.ids...), Signer: signer}), k.ready
}

// consoleSealer seals broadcast texts once it knows the staff keys and the
// bot's.
type consoleSealer struct {
	store *store.Store
	staff *seal.Recipients // nil: no recipients file
	bot   string           // VIGIL_BOT_RECIPIENT, or "" to read it from Redis

	mu     sync.Mutex
	sealer func([]byte) ([]byte, error) // once both keys are known
}

func (k *consoleSealer) get(ctx context.Context) (func([]byte) ([]byte, error), error) {
	if k.staff == nil {
		return nil, web.ErrNoStaffKeys
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sealer != nil {
		return k.sealer, nil
	}
	bot := k.bot
	if bot == "" {
		var err error
		if bot, err = intake.BotRecipient(ctx, k.store, k.staff); errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNoBotKey
		} else if err != nil {
			return nil, err
		}
	}
	s, err := broadcast.SealFor(k.staff, bot)
	if err != nil {
		return nil, err
	}
	k.sealer = s
	return s, nil
}

// ready is web.Config.CanCreate.
func (k *consoleSealer) ready(ctx context.Context) error {
	_, err := k.get(ctx)
	return err
}

// seal is broadcast.Config.Seal. The console checks ready first, so the
// keys are known by then.
func (k *consoleSealer) seal(plain []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := k.get(ctx)
	if err != nil {
		return nil, err
	}
	return s(plain)
}
