package sign

import (
	"testing"
	"time"
)

// statement returns a valid statement of action by signer about subject.
func statement(action Action, signer, subject string) Statement {
	st := Statement{
		Action:  action,
		Signer:  signer,
		Time:    time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC),
		Subject: subject,
		Digest:  DigestOf([]byte("We have read your report. Stay safe.")),
	}
	if action.hasCountries() {
		st.Countries = []string{"GE", "UA"}
	}
	return st
}

func encode(tb testing.TB, st Statement) []byte {
	tb.Helper()
	b, err := st.Encode()
	if err != nil {
		tb.Fatalf("Encode: %v", err)
	}
	return b
}
