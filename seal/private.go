package seal

import (
	"fmt"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"unicode"
)

// ExposedError is a secret key file (a staff identity, the bot's secret)
// whose mode lets users other than its owner read or change it. It is
// refused, as ssh refuses such a private key; the message says the
// command that fixes it.
type ExposedError struct {
	What string      // "identity file" or "bot secret"
	Path string      // as given
	Mode fs.FileMode // its permission bits
}

func (e *ExposedError) Error() string {
	return fmt.Sprintf("seal: %s %s can be read or changed by other users (mode %#o); fix it with: chmod 600 %s",
		e.What, shellWord(e.Path), uint32(e.Mode), shellWord(e.Path))
}

// checkPrivate returns an *ExposedError when fi, the file at path, is
// open to its group or to others. Windows has no such mode bits (its
// files show 0666): nothing is checked there.
func checkPrivate(fi fs.FileInfo, path, what string) error {
	if runtime.GOOS == "windows" || fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	return &ExposedError{What: what, Path: path, Mode: fi.Mode().Perm()}
}

// shellWord writes a path so that it can be pasted into a shell and
// cannot play tricks on the terminal: as is when it is plain, in single
// quotes when it holds spaces or shell characters, Go-quoted when it holds
// characters a terminal would act on.
func shellWord(p string) string {
	if strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(p)
	}
	if strings.HasPrefix(p, "-") {
		p = "./" + p
	}
	if p != "" && strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./+-:@%,") == "" {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
