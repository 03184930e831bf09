package testenv

import (
	"testing"

	"github.com/vigil-hrd/vigil/broadcast"
)

// As returns the coordinators' service as a staff tool run by name (see
// Staff) uses it: it signs with name's key and opens texts with the staff
// identity.
func (e *Env) As(tb testing.TB, name string) *broadcast.Service {
	tb.Helper()
	return broadcast.New(broadcast.Config{Store: e.Store, Seal: e.sealer, Open: broadcast.Opener(e.Identities...), Signer: e.Signer(tb, name)})
}
