// Package corpus locates the external log corpus (../shared/corpus beside
// the project checkout) for tests that use it as conformance and robustness
// input. Only tests import it.
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the absolute path of the corpus folder. When the folder is
// absent the test is skipped with a message, except under CI (CI=true),
// where the corpus is always present and its absence fails the test.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, ok := find()
	if !ok {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("corpus: ../shared/corpus not found beside the project root; CI must provide it")
		}
		tb.Skip("corpus: ../shared/corpus not found beside the project root; skipping corpus-based test")
	}
	return dir
}

// Path joins elem onto Dir(tb).
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, elem...)...)
}

// find walks up from the working directory to the module root (the
// directory holding go.mod) and looks for ../shared/corpus beside it.
func find() (string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(filepath.Dir(dir), "shared", "corpus")
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return c, true
			}
			return "", false
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}
