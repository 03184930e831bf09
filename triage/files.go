package triage

import (
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

	"github.com/vigil-hrd/vigil/seal"
	"github.com/vigil-hrd/vigil/store"
)

// FileResult is one evidence file written out by Files.
type FileResult struct {
	Index    int
	Path     string // where it was written; "" when it was not
	SHA256   string // of the bytes written
	Expected string // as recorded when the defender sent it
	Size     int64
	Problem  string // a hash mismatch, a file that does not open, …
}

// Files decrypts the evidence of a case into dir (created 0700; files
// 0600), verifying each file's SHA-256 against the hash recorded when the
// defender sent it. A mismatch is reported and the file is kept under a
// name that says so.
func (s *Service) Files(ctx context.Context, typed, dir string) ([]FileResult, error) {
	if len(s.cfg.Identities) == 0 {
		return nil, ErrNoIdentity
	}
	c, err := s.find(ctx, typed)
	if err != nil {
		return nil, err
	}
	if err := s.audit(ctx, "files", c.Ref, ""); err != nil {
		return nil, err
	}
	oc := s.openOne(c)
	if oc.Report == nil {
		return nil, errors.New(oc.Problem)
	}
	if len(oc.Report.Evidence) == 0 {
		return nil, fmt.Errorf("case %s has no evidence files", c.Ref)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var out []FileResult
	for i, ev := range oc.Report.Evidence {
		res := FileResult{Index: i, Expected: ev.SHA256}
		name := fileName(i, ev.Name, ev.Kind, ev.MIME)
		r, _, err := s.cfg.Store.OpenFile(ctx, c.Ref, i)
		if errors.Is(err, store.ErrNotFound) {
			res.Problem = "missing: it had expired before the report was sent, or was purged"
			out = append(out, res)
			continue
		}
		if err != nil {
			return out, err
		}
		plain, err := seal.OpenStream(r, s.cfg.Identities...)
		if err != nil {
			res.Problem = "does not open: " + err.Error()
			out = append(out, res)
			continue
		}
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return out, fmt.Errorf("write evidence: %w", err)
		}
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, sum), plain)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		res.Path, res.Size, res.SHA256 = path, n, hex.EncodeToString(sum.Sum(nil))
		switch {
		case err != nil:
			res.Problem = "damaged or tampered with: " + err.Error()
		case res.SHA256 != ev.SHA256:
			res.Problem = "SHA-256 does not match the one recorded when it was received"
		}
		if res.Problem != "" {
			bad := path + ".UNVERIFIED"
			if os.Rename(path, bad) == nil {
				res.Path = bad
			}
		}
		out = append(out, res)
	}
	return out, nil
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
