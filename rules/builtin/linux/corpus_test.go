// Package linux_test replays the raw audit logs of the external corpus
// (the go-libaudit robustness set, with lost, reordered and wrapped
// sequences, and recorded OTRF attack simulations) through the built-in
// auditd rules.
package linux_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/auditd"
	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
)

// TestCorpusLogs evaluates every event of the corpus's raw audit logs with
// every built-in auditd rule. The logs hold ordinary activity (shells,
// grep, cat, postfix, arp, dd padding a file), so no rule may fire, and no
// rule may fail on their shapes (hex-encoded exe and proctitle, SOCKADDR
// records, missing keys).
func TestCorpusLogs(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		corpus.Path(t, "go-libaudit", "testdata", "*.log"),
		corpus.Path(t, "otrf-security-datasets", "*.log"),
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 6 {
		t.Fatalf("found %d corpus audit logs, want at least 6", len(files))
	}
	set, err := rules.Load(builtin.FS, "lists", "linux")
	if err != nil {
		t.Fatalf("load built-in linux rules: %v", err)
	}
	d, err := auditd.New(auditd.Config{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		err = d.Decode(context.Background(), f, name, ingest.Handler{
			Event: func(e *ingest.Event) error {
				n++
				for _, r := range set.Rules {
					ok, err := r.Eval(e.Fields)
					if err != nil {
						t.Errorf("%s: %v", name, err)
					}
					if ok {
						t.Errorf("%s: event %v fired %s", name, e.Fields["sequence"], r.ID)
					}
				}
				return nil
			},
		})
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n < 20 {
		t.Fatalf("evaluated %d audit events, want at least 20", n)
	}
}
