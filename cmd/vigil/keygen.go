package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vigil-hrd/vigil/seal"
)

// keygen writes a new staff identity and prints its public recipient:
// classic, or with --pq post-quantum.
func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the identity to this `FILE` (mode 0600; never overwritten) instead of stdout")
	pq := fs.Bool("pq", false, "a post-quantum identity (age1pq1…; every staff member of the mission must have one)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: vigil keygen [--pq] [-o FILE]")
		return errUsage
	}
	newIdentity := seal.NewIdentity
	if *pq {
		newIdentity = seal.NewPostQuantumIdentity
	}
	file, pub, err := newIdentity()
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprint(stdout, file)
		fmt.Fprintf(stderr, "Public key: %s\n", pub)
		return nil
	}
	if err := seal.WriteNewFile(*out, []byte(file)); err != nil {
		return fmt.Errorf("keygen: %w (an existing identity is never overwritten)", err)
	}
	fmt.Fprintf(stderr, "Wrote a staff identity to %s. Keep it on the staff member's own machine; never put it on the bot server.\n", *out)
	fmt.Fprintf(stdout, "%s\n", pub)
	return nil
}
