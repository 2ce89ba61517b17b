package notify

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/vigilsec/vigil/ingest/corpus"
)

// FuzzClean feeds log-like text to the sanitiser and the Slack escaper:
// what comes out has no escape, control or bidi character, is valid
// UTF-8 within the size cap, is stable under a second pass, and in Slack
// form cannot open markup or a broadcast mention. Seeds: our own hostile
// strings and lines of the corpus's raw audit logs (which hold a raw
// control character).
func FuzzClean(f *testing.F) {
	for _, s := range []string{
		hostileAlert().Summary, hostileAlert().GroupKey, "\x1b[1;31mroot\x1b[0m", "\x1b]0;t\x07", "\x1bP+q\x1b\\",
		"<!subteam^S123>", "@@here", "<<!here>>", "a\u202eb\u2067c", "\xc0\x80", "\u0085\u009b",
	} {
		f.Add(s)
	}
	dir := corpus.Dir(f)
	for _, pattern := range []string{"go-libaudit/testdata/*.log", "otrf-security-datasets/*.log", "aws-docs-vpc-flow/*"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, file := range files {
			addLines(f, file, 50)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := clean(in)
		if !utf8.ValidString(out) || len(out) > maxText {
			t.Fatalf("clean(%q) = %q: invalid or too long", in, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || isBidi(r) {
				t.Fatalf("clean(%q) = %q keeps %U", in, out, r)
			}
		}
		if again := clean(out); again != out {
			t.Fatalf("clean is not stable: %q then %q", out, again)
		}
		s := slackText(out, 3000)
		for _, bad := range []string{"<", ">", "@here", "@channel", "@everyone", "!here", "!channel", "!everyone"} {
			if strings.Contains(s, bad) {
				t.Fatalf("slackText(%q) = %q contains %q", out, s, bad)
			}
		}
	})
}

// addLines adds up to n lines of a file as seeds.
func addLines(f *testing.F, path string, n int) {
	fh, err := os.Open(path)
	if err != nil {
		return // a directory or unreadable entry: not a seed
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		f.Add(sc.Text())
	}
}

// FuzzParse feeds arbitrary YAML to the configuration loader: it never
// panics, and what it accepts builds a Notifier or fails with an error.
func FuzzParse(f *testing.F) {
	f.Add(string(readmeYAML(f)))
	f.Add("routes: [{name: r, default: true, destinations: [d]}]\ndestinations: [{name: d, type: slack, url_env: S}]")
	f.Add("destinations: [{name: d, type: webhook, url: 'http://2130706433/', secret_env: [S]}]")
	f.Add("outbound: {allow_networks: ['::ffff:0:0/96'], allow_http: ['[::1]']}")
	f.Add("retry: {max_attempts: -1}")
	f.Add("routes: [{name: r, match: {tags: ['[']}}]")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse([]byte(in), "fuzz.yaml")
		if err != nil {
			return
		}
		c.Getenv = func(string) string { return testSecret }
		n, err := New(c)
		if err == nil && n == nil {
			t.Fatal("New returned neither a notifier nor an error")
		}
	})
}
