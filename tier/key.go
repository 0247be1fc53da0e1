package tier

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key a store accepts (S3's limit).
const MaxKeyLen = 1024

// tmpDirName is the top-level directory LocalDir writes temporary files
// into; no key may start with it.
const tmpDirName = ".strata-tmp"

// ValidateKey checks the naming rules every store enforces, so one key is
// valid everywhere: non-empty, at most MaxKeyLen bytes, UTF-8, no NUL or
// backslash, relative ('/'-separated components, none empty, "." or ".."),
// and not under the reserved ".strata-tmp/". It returns an error wrapping
// ErrInvalidKey.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: %q: not UTF-8", ErrInvalidKey, key)
	case strings.ContainsAny(key, "\x00\\"):
		return fmt.Errorf("%w: %q: NUL or backslash", ErrInvalidKey, key)
	case strings.HasPrefix(key, "/"):
		return fmt.Errorf("%w: %q: absolute", ErrInvalidKey, key)
	}
	for c := range strings.SplitSeq(key, "/") {
		switch c {
		case "":
			return fmt.Errorf("%w: %q: empty path component", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w: %q: %q component", ErrInvalidKey, key, c)
		}
	}
	if key == tmpDirName || strings.HasPrefix(key, tmpDirName+"/") {
		return fmt.Errorf("%w: %q: reserved prefix %s", ErrInvalidKey, key, tmpDirName)
	}
	return nil
}
