package ruletest

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// jsonLines is a stand-in decoder: one JSON object per line, its
// eventTime as the event time.
type jsonLines struct{ typ string }

func (d jsonLines) Decode(ctx context.Context, r io.Reader, src string, h ingest.Handler) error {
	lines := ingest.NewLines(r, ingest.Limits{})
	for {
		line, num, _, err := lines.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			h.Report(&ingest.DecodeError{Source: src, Line: num, Offset: -1, Err: err})
			continue
		}
		at, _ := m["eventTime"].(string)
		t, _ := time.Parse(time.RFC3339, at)
		ev := &ingest.Event{ID: ingest.StableID(d.typ, src, strconv.Itoa(num)), Type: d.typ, Time: t, Source: src, Fields: m}
		if err := h.Event(ev); err != nil {
			return err
		}
	}
}

func TestRun(t *testing.T) {
	set, err := rules.Load(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Decoders: map[string]ingest.Decoder{
		ingest.TypeCloudTrail: jsonLines{ingest.TypeCloudTrail},
		ingest.TypeK8sAudit:   jsonLines{ingest.TypeK8sAudit},
	}}
	tests := []struct {
		strict  bool
		summary string
		lines   []string
	}{
		{false, "7 passed, 3 failed", []string{
			"PASS rules.yaml:9:5 passing/fires: expected 1 alerts, got 1",
			"PASS rules.yaml:12:5 passing/quiet: expected 0 alerts, got 0",
			"PASS rules.yaml:15:5 passing/suppressed pair: expected 1 alerts, got 1",
			"PASS rules.yaml:20:5 passing/fixture with two periods: expected 2 alerts, got 2",
			"PASS rules.yaml:23:5 passing/raw line: expected 1 alerts, got 1",
			"FAIL rules.yaml:34:5 failing/wrong expectation: expected 0 alerts, got 1",
			"FAIL rules.yaml:37:5 failing/bad record: decode: 1 bad records: test:rules.yaml:37:5:1: invalid character 'o' in literal null (expecting 'u')",
			"PASS rules.yaml:53:5 eval-error/fires: expected 1 alerts, got 1",
			"FAIL rules.yaml:56:5 eval-error/evaluation error: 1 evaluation errors, last: rule eval-error: invalid argument for len (type float64) (1:1)\n | len(verb) > 3\n | ^",
		}},
		{true, "7 passed, 6 failed", []string{
			"FAIL rules.yaml:41:1 untested: rule has no tests",
			"FAIL rules.yaml:60:1 only-firing: rule has no test that expects no alert (expect: 0)",
			"FAIL rules.yaml:27:1 failing: rule has no test that expects an alert (expect > 0)",
		}},
	}
	for _, tt := range tests {
		cfg.Strict = tt.strict
		rep, err := Run(context.Background(), set, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Summary() != tt.summary || rep.OK() || len(rep.Results) != rep.Passed+rep.Failed {
			t.Errorf("strict=%v: summary %q", tt.strict, rep.Summary())
		}
		var all []string
		for _, r := range rep.Results {
			all = append(all, r.String())
		}
		got := strings.Join(all, "\n")
		for _, l := range tt.lines {
			if !strings.Contains(got, l) {
				t.Errorf("strict=%v: missing %q in\n%s", tt.strict, l, got)
			}
		}
	}
}

func TestMissingDecoder(t *testing.T) {
	set, err := rules.Load(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	res := RunRule(context.Background(), set.Rule("eval-error"), Config{})
	if len(res) != 2 || res[0].Err == nil || res[0].Err.Error() != "no decoder for log type k8saudit" {
		t.Errorf("got %v", res)
	}
}
