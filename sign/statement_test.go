package sign

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// TestStatementLayout pins the bytes that are signed: a change here breaks
// every signature staff have made, and docs/signing.md must change with it.
func TestStatementLayout(t *testing.T) {
	when := time.Date(2026, 12, 7, 22, 0, 0, 0, time.FixedZone("CET", 3600))
	var d Digest
	for i := range d {
		d[i] = byte(i)
	}
	const hexd = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	for _, tc := range []struct {
		name string
		st   Statement
		want string
	}{
		{"reply", Statement{Action: ActionReply, Signer: "anna", Time: when, Subject: "K7Q2-XM4P", Digest: d},
			"vigil-statement/1\naction: reply\nsigner: anna\ntime: 2026-12-07T21:00:00Z\nsubject: K7Q2-XM4P\ncountries: \ndigest: sha256:" + hexd + "\n"},
		{"broadcast, countries sorted", Statement{Action: ActionBroadcast, Signer: "bob", Time: when, Subject: "B-7K2QX6", Countries: []string{"UA", "GE", "BY"}, Digest: d},
			"vigil-statement/1\naction: broadcast\nsigner: bob\ntime: 2026-12-07T21:00:00Z\nsubject: B-7K2QX6\ncountries: BY,GE,UA\ndigest: sha256:" + hexd + "\n"},
		{"stop", Statement{Action: ActionStop, Signer: "bob", Time: when, Subject: "G-ABCDEF", Digest: d},
			"vigil-statement/1\naction: stop\nsigner: bob\ntime: 2026-12-07T21:00:00Z\nsubject: G-ABCDEF\ncountries: \ndigest: sha256:" + hexd + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := encode(t, tc.st)
			if string(got) != tc.want {
				t.Fatalf("Encode:\n%s\nwant:\n%s", got, tc.want)
			}
			back, err := ParseStatement(got)
			if err != nil {
				t.Fatalf("ParseStatement: %v", err)
			}
			if again := encode(t, back); !bytes.Equal(again, got) {
				t.Fatalf("round trip changed the bytes:\n%s", again)
			}
			if !back.Time.Equal(tc.st.Time) || back.Time.Location() != time.UTC {
				t.Errorf("time %v, want %v in UTC", back.Time, tc.st.Time)
			}
		})
	}
}

func TestStatementEncodeRefuses(t *testing.T) {
	ok := statement(ActionApprove, "anna", "B-7K2QX6")
	for _, tc := range []struct {
		name   string
		change func(*Statement)
		want   string
	}{
		{"unknown action", func(s *Statement) { s.Action = "delete" }, "unknown action"},
		{"empty action", func(s *Statement) { s.Action = "" }, "unknown action"},
		{"action in capitals", func(s *Statement) { s.Action = "APPROVE" }, "unknown action"},
		{"no signer", func(s *Statement) { s.Signer = "" }, "bad signer"},
		{"signer with a newline", func(s *Statement) { s.Signer = "anna\naction: stop" }, "bad signer"},
		{"signer in capitals", func(s *Statement) { s.Signer = "Anna" }, "bad signer"},
		{"no time", func(s *Statement) { s.Time = time.Time{} }, "time not set"},
		{"time with a fraction", func(s *Statement) { s.Time = s.Time.Add(time.Millisecond) }, "fraction of a second"},
		{"time after 9999", func(s *Statement) { s.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time not set"},
		{"no subject", func(s *Statement) { s.Subject = "" }, "bad subject"},
		{"subject with a newline", func(s *Statement) { s.Subject = "K7Q2\ndigest: x" }, "bad subject"},
		{"subject with a space", func(s *Statement) { s.Subject = "K7Q2 XM4P" }, "bad subject"},
		{"subject with a control character", func(s *Statement) { s.Subject = "K7Q2\x00" }, "bad subject"},
		{"subject not ASCII", func(s *Statement) { s.Subject = "К7Q2" }, "bad subject"},
		{"subject starting with a dash", func(s *Statement) { s.Subject = "-K7Q2" }, "bad subject"},
		{"subject too long", func(s *Statement) { s.Subject = strings.Repeat("K", 65) }, "bad subject"},
		{"no country for an approval", func(s *Statement) { s.Countries = nil }, "needs at least one country"},
		{"country in lower case", func(s *Statement) { s.Countries = []string{"ua"} }, "bad country"},
		{"country of three letters", func(s *Statement) { s.Countries = []string{"UKR"} }, "bad country"},
		{"countries joined", func(s *Statement) { s.Countries = []string{"GE,UA"} }, "bad country"},
		{"country twice", func(s *Statement) { s.Countries = []string{"UA", "GE", "UA"} }, "country UA given twice"},
		{"country for a reply", func(s *Statement) { s.Action = ActionReply; s.Countries = []string{"UA"} }, "reply takes no country"},
		{"country for a stop", func(s *Statement) { s.Action = ActionStop; s.Countries = []string{"UA"} }, "stop takes no country"},
		{"no digest", func(s *Statement) { s.Digest = Digest{} }, "digest not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := ok
			st.Countries = append([]string(nil), ok.Countries...)
			tc.change(&st)
			b, err := st.Encode()
			if err == nil {
				t.Fatalf("Encode accepted it:\n%s", b)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.ContainsAny(err.Error(), "\n\x00") {
				t.Errorf("error %q, want one line holding %q", err, tc.want)
			}
		})
	}
}

// TestParseStatementRefuses: only the bytes Encode writes parse.
func TestParseStatementRefuses(t *testing.T) {
	good := string(encode(t, statement(ActionBroadcast, "anna", "B-7K2QX6")))
	if _, err := ParseStatement([]byte(good)); err != nil {
		t.Fatalf("ParseStatement(Encode()): %v", err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"another version", "vigil-statement/1", "vigil-statement/2"},
		{"no header", "vigil-statement/1\n", ""},
		{"CRLF", "\n", "\r\n"},
		{"no final newline", "\n" + strings.Split(good, "\n")[6] + "\n", "\n" + strings.Split(good, "\n")[6]},
		{"a line after the digest", "\ndigest:", "\nx: y\ndigest:"},
		{"fields reordered", "signer: anna\ntime: 2026-12-07T21:00:00Z\n", "time: 2026-12-07T21:00:00Z\nsigner: anna\n"},
		{"two spaces", "signer: anna", "signer:  anna"},
		{"trailing space", "signer: anna", "signer: anna "},
		{"no space", "signer: anna", "signer:anna"},
		{"time with an offset", "21:00:00Z", "21:00:00+00:00"},
		{"time in another zone", "T21:00:00Z", "T22:00:00+01:00"},
		{"time with a fraction", "21:00:00Z", "21:00:00.000Z"},
		{"time in lower case", "T21:00:00Z", "t21:00:00z"},
		{"countries unsorted", "countries: GE,UA", "countries: UA,GE"},
		{"countries with a space", "countries: GE,UA", "countries: GE, UA"},
		{"countries with an empty one", "countries: GE,UA", "countries: GE,,UA"},
		{"digest in upper case", "digest: sha256:", "digest: SHA256:"},
		{"digest hex in upper case", good[len(good)-65:], strings.ToUpper(good[len(good)-65:len(good)-1]) + "\n"},
		{"digest too short", good[len(good)-3:], "\n"},
		{"digest of another hash", "digest: sha256:", "digest: sha512:"},
		{"NUL in a field", "subject: B-7K2QX6", "subject: B-7K2QX6\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("test bug: %q not in the statement", tc.old)
			}
			bad := strings.Replace(good, tc.old, tc.new, 1)
			if bad == good {
				t.Fatal("test bug: nothing changed")
			}
			if st, err := ParseStatement([]byte(bad)); err == nil {
				t.Fatalf("ParseStatement accepted\n%q\nas %+v", bad, st)
			}
		})
	}
	if _, err := ParseStatement(bytes.Repeat([]byte("x"), maxStatement+1)); err == nil {
		t.Error("ParseStatement accepted a long input")
	}
}

func TestTextsDigest(t *testing.T) {
	// The layout, written out by hand: the domain, then per language in
	// byte order an 8-byte length and the language, an 8-byte length and
	// the text.
	manual := "vigil-texts/1\n" +
		"\x00\x00\x00\x00\x00\x00\x00\x02ar" + "\x00\x00\x00\x00\x00\x00\x00\x05salam" +
		"\x00\x00\x00\x00\x00\x00\x00\x02en" + "\x00\x00\x00\x00\x00\x00\x00\x05hello"
	if got, want := TextsDigest(map[string]string{"en": "hello", "ar": "salam"}), Digest(sha256.Sum256([]byte(manual))); got != want {
		t.Fatalf("TextsDigest = %s, want %s", got, want)
	}
	if got, want := TextsDigest(nil), Digest(sha256.Sum256([]byte("vigil-texts/1\n"))); got != want {
		t.Errorf("TextsDigest(nil) = %s, want %s", got, want)
	}
	// Texts that concatenate to the same bytes must not collide.
	distinct := []map[string]string{
		{"en": "ab", "fr": "c"},
		{"en": "a", "fr": "bc"},
		{"en": "abc"},
		{"en": "abc", "fr": ""},
		{"e": "nabc"},
		{"en": "abc", "fr": "c"},
		{"en": "ab", "fr": "C"},
	}
	seen := map[Digest]int{}
	for i, texts := range distinct {
		d := TextsDigest(texts)
		if j, ok := seen[d]; ok {
			t.Errorf("TextsDigest(%v) = TextsDigest(%v)", texts, distinct[j])
		}
		seen[d] = i
	}
	if got, want := DigestOf([]byte("hello")).String(), "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; got != want {
		t.Errorf("DigestOf(hello) = %s, want %s", got, want)
	}
}

func TestStatementTime(t *testing.T) {
	in := time.Date(2026, 12, 7, 22, 0, 0, 999_999_999, time.FixedZone("CET", 3600))
	got := StatementTime(in)
	if want := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("StatementTime(%v) = %v, want %v", in, got, want)
	}
	st := statement(ActionReply, "anna", "K7Q2-XM4P")
	st.Time = got
	if _, err := st.Encode(); err != nil {
		t.Fatalf("Encode with StatementTime: %v", err)
	}
}
