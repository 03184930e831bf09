package triage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/vigil-hrd/vigil/flows"
	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// FileResult is one evidence file decrypted by Files, Verify or File.
type FileResult struct {
	Index    int
	Name     string // a safe local file name: the index and the defender's name, cleaned
	Path     string // where Files wrote it; "" when it was not written
	SHA256   string // of the bytes decrypted
	Expected string // as recorded when the defender sent it
	Size     int64
	Problem  string // a hash mismatch, a file that does not open, …
}

// Verified reports whether the file opened whole and matches the hash
// recorded when the defender sent it.
func (r FileResult) Verified() bool { return r.Problem == "" && r.SHA256 != "" }

// Files decrypts the evidence of a case into dir (created 0700; files
// 0600), verifying each file's SHA-256 against the hash recorded when the
// defender sent it. A mismatch is reported and the file is kept under a
// name that says so.
func (s *Service) Files(ctx context.Context, typed, dir string) ([]FileResult, error) {
	c, rep, err := s.evidenceOf(ctx, typed, "")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var out []FileResult
	for i, ev := range rep.Evidence {
		path := filepath.Join(dir, fileName(i, ev.Name, ev.Kind, ev.MIME))
		var f *os.File
		res, err := s.decryptFile(ctx, c.Ref, i, ev, func() (io.Writer, error) {
			var err error
			if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
				return nil, fmt.Errorf("write evidence: %w", err)
			}
			return f, nil
		})
		if f != nil {
			if cerr := f.Close(); cerr != nil && res.Problem == "" {
				res.Problem = "damaged or tampered with: " + cerr.Error()
			}
			res.Path = path
			if res.Problem != "" {
				bad := path + ".UNVERIFIED"
				if os.Rename(path, bad) == nil {
					res.Path = bad
				}
			}
		}
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// Verify decrypts every evidence file of a case without keeping it, and
// checks each one's SHA-256 against the hash recorded when the defender
// sent it. Audited as a decryption of the case's files.
func (s *Service) Verify(ctx context.Context, typed string) ([]FileResult, error) {
	c, rep, err := s.evidenceOf(ctx, typed, "verify")
	if err != nil {
		return nil, err
	}
	out := make([]FileResult, 0, len(rep.Evidence))
	for i, ev := range rep.Evidence {
		res, err := s.decryptFile(ctx, c.Ref, i, ev, func() (io.Writer, error) { return io.Discard, nil })
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// File decrypts evidence file n (from 0) of a case into memory and returns
// its bytes only when it verifies; otherwise data is nil and the result
// says what is wrong. A file is at most the bot's file size limit (20 MB by
// default), so holding it in memory is the price of never writing it to
// disk.
func (s *Service) File(ctx context.Context, typed string, n int) (res FileResult, data []byte, err error) {
	c, rep, err := s.evidenceOf(ctx, typed, fmt.Sprintf("file %d", n+1))
	if err != nil {
		return FileResult{}, nil, err
	}
	if n < 0 || n >= len(rep.Evidence) {
		return FileResult{}, nil, fmt.Errorf("case %s has no file %d", c.Ref, n+1)
	}
	var buf bytes.Buffer
	res, err = s.decryptFile(ctx, c.Ref, n, rep.Evidence[n], func() (io.Writer, error) { return &buf, nil })
	if err != nil || !res.Verified() {
		return res, nil, err
	}
	return res, buf.Bytes(), nil
}

// evidenceOf finds a case, audits the decryption of its files (detail says
// which) and opens its report, which lists the files.
func (s *Service) evidenceOf(ctx context.Context, typed, detail string) (store.Case, *flows.Report, error) {
	if len(s.cfg.Identities) == 0 {
		return store.Case{}, nil, ErrNoIdentity
	}
	c, err := s.find(ctx, typed)
	if err != nil {
		return store.Case{}, nil, err
	}
	if err := s.audit(ctx, "files", c.Ref, detail); err != nil {
		return store.Case{}, nil, err
	}
	oc := s.openOne(c)
	if oc.Report == nil {
		return store.Case{}, nil, errors.New(oc.Problem)
	}
	if len(oc.Report.Evidence) == 0 {
		return store.Case{}, nil, fmt.Errorf("case %s has no evidence files", c.Ref)
	}
	return c, oc.Report, nil
}

// decryptFile decrypts evidence file i of a case into the writer dst
// returns (asked for once the file opens), hashing what it decrypts. A
// file that is missing, does not open, is damaged or does not match its
// recorded hash is a Problem of the result; the error is for the store or
// dst failing.
func (s *Service) decryptFile(ctx context.Context, ref string, i int, ev flows.Evidence, dst func() (io.Writer, error)) (FileResult, error) {
	res := FileResult{Index: i, Name: fileName(i, ev.Name, ev.Kind, ev.MIME), Expected: ev.SHA256}
	r, _, err := s.cfg.Store.OpenFile(ctx, ref, i)
	if errors.Is(err, store.ErrNotFound) {
		res.Problem = "missing: it had expired before the report was sent, or was purged"
		return res, nil
	}
	if err != nil {
		return res, err
	}
	plain, err := seal.OpenStream(r, s.cfg.Identities...)
	if err != nil {
		res.Problem = "does not open: " + err.Error()
		return res, nil
	}
	w, err := dst()
	if err != nil {
		return res, err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, sum), plain)
	res.Size, res.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
	switch {
	case err != nil:
		res.Problem = "damaged or tampered with: " + err.Error()
	case res.SHA256 != ev.SHA256:
		res.Problem = "SHA-256 does not match the one recorded when it was received"
	}
	return res, nil
}

// fileName is a safe local name: the index, then the defender's file name
// with anything a file system could misread replaced.
func fileName(i int, name, kind, mimeType string) string {
	base := filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	if base == "." || base == "/" || base == "" {
		base = kind
		if exts, _ := mime.ExtensionsByType(mimeType); len(exts) > 0 {
			base += exts[0]
		}
	}
	clean := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._- ", r) {
			return r
		}
		return '_'
	}, base)
	clean = strings.TrimLeft(clean, ".")
	if len(clean) > 100 {
		clean = clean[len(clean)-100:]
	}
	return fmt.Sprintf("%02d-%s", i+1, clean)
}
