// Command age-plugin-vigiltest is an age plugin for Vigil's tests, standing
// in for a hardware key's plugin such as age-plugin-yubikey: it keeps an
// X25519 key inside its identity (where a YubiKey's plugin keeps a pointer
// to the key on the device), and asks for a touch on every decryption.
//
//	age-plugin-vigiltest --generate    prints an identity file, as age-plugin-yubikey --generate does
//
// Built by the tests (package agetest); not for use with real reports.
package main

import (
	"flag"
	"fmt"
	"os"

	"filippo.io/age"
	"filippo.io/age/plugin"
)

const name = "vigiltest"

func main() {
	p, err := plugin.New(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.RegisterFlags(nil)
	generate := flag.Bool("generate", false, "print a new identity file")
	flag.Parse()
	if *generate {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("#    Recipient: %s\n%s\n",
			plugin.EncodeRecipient(name, []byte(id.Recipient().String())),
			plugin.EncodeIdentity(name, []byte(id.String())))
		return
	}
	p.HandleRecipient(func(data []byte) (age.Recipient, error) {
		return age.ParseX25519Recipient(string(data))
	})
	p.HandleIdentity(func(data []byte) (age.Identity, error) {
		id, err := age.ParseX25519Identity(string(data))
		if err != nil {
			return nil, err
		}
		return &touchKey{p: p, id: id}, nil
	})
	os.Exit(p.Main())
}

// touchKey asks for a touch, as a hardware key does, before it opens a file
// sealed to it.
type touchKey struct {
	p  *plugin.Plugin
	id *age.X25519Identity
}

func (k *touchKey) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := k.id.Unwrap(stanzas)
	if err != nil {
		return nil, err
	}
	// A message the client cannot show does not stop a decryption.
	k.p.DisplayMessage("touch your vigiltest key \x1b[31mnow\x1b[0m")
	return key, nil
}
