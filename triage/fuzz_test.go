package triage

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// FuzzOpenReport feeds arbitrary bytes, and arbitrary documents sealed to
// the staff key, to the opening of a stored report: it must never panic,
// and must show a report only when it is a well-formed document of the
// right case.
func FuzzOpenReport(f *testing.F) {
	file, pub, err := seal.NewIdentity()
	if err != nil {
		f.Fatal(err)
	}
	id, _ := seal.ParseIdentity(file)
	rs, _ := seal.ParseRecipients(strings.NewReader(pub))
	s := &Service{cfg: Config{Identities: []seal.Identity{id}, Lease: time.Hour, Now: time.Now}}
	f.Add([]byte(`{"schema":"vigil.report.v1","ref":"AAAA-BBBB","answers":{"what":["threats"]}}`), true)
	f.Add([]byte(`{"schema":"vigil.report.v1","ref":"ZZZZ-ZZZZ"}`), true)
	f.Add([]byte("age-encryption.org/v1\n-> X25519 abc\n"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, doc []byte, sealIt bool) {
		sealed := doc
		if sealIt {
			sealed, _ = rs.Seal(doc)
		}
		c := s.openOne(store.Case{Ref: "AAAA-BBBB", Sealed: sealed, Status: "new"})
		if c.Report != nil && (c.Report.Ref != "AAAA-BBBB" || c.Problem != "") {
			t.Fatalf("shown a report that is not this case's: %+v", c)
		}
		if c.Report == nil && c.Problem == "" {
			t.Fatal("neither a report nor a reason")
		}
		_ = ToRecord(c)
		_ = answers(c.Report, "what")
	})
}
