package vpcflow

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
)

// docExample is one record of the AWS documentation examples in the corpus.
type docExample struct {
	Section string `json:"section"`
	Format  string `json:"format"`
	Record  string `json:"record"`
}

func readDocExamples(tb testing.TB) []docExample {
	tb.Helper()
	f, err := os.Open(corpus.Path(tb, "aws-docs-vpc-flow", "aws_docs_vpc_flow_examples.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []docExample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ex docExample
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			tb.Fatalf("corpus line %d: %v", len(out)+1, err)
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func scenarioLines(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile(corpus.Path(tb, "panther-analysis", "scenarios", "compromised-root-creds__attacker_vpc.log"))
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestCorpusDocExamples decodes every documented example record with its
// declared format, configured (CloudWatch Logs style) and as an S3 file with
// a header line: each gives one event holding every value that is not "-".
func TestCorpusDocExamples(t *testing.T) {
	exs := readDocExamples(t)
	if len(exs) == 0 {
		t.Fatal("no examples in the corpus file")
	}
	for i, ex := range exs {
		names := strings.Fields(ex.Format)
		values := strings.Fields(ex.Record)
		if j := strings.Index(ex.Record, " #"); j >= 0 {
			values = strings.Fields(ex.Record[:j])
		}
		for _, in := range []struct {
			cfg  Config
			text string
		}{
			{Config{Format: ex.Format}, ex.Record},
			{Config{}, ex.Format + "\n" + ex.Record},
		} {
			r := decode(t, in.cfg, "doc", []byte(in.text))
			if len(r.events) != 1 || len(r.bad) != 0 {
				t.Fatalf("example %d (%s): %d events, bad %v", i+1, ex.Section, len(r.events), r.bad)
			}
			e := r.events[0]
			want := 0
			for k, n := range names {
				key := strings.ReplaceAll(n, "-", "_")
				v, ok := e.Fields[key]
				if values[k] == "-" {
					if ok {
						t.Errorf("example %d: %s = %v, want absent", i+1, key, v)
					}
					continue
				}
				want++
				if got := fieldText(v); got != values[k] {
					t.Errorf("example %d: %s = %#v, want %s", i+1, key, v, values[k])
				}
			}
			if _, ok := e.Fields["protocol"]; ok {
				want++
			}
			if len(e.Fields) != want {
				t.Errorf("example %d: %d fields, want %d: %v", i+1, len(e.Fields), want, e.Fields)
			}
		}
	}
}

// fieldText writes a field value back as its text in a record.
func fieldText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return "?"
}

// TestCorpusScenario decodes raw default-format lines recorded for an
// attack scenario.
func TestCorpusScenario(t *testing.T) {
	lines := scenarioLines(t)
	b, err := os.ReadFile(corpus.Path(t, "panther-analysis", "scenarios", "compromised-root-creds__attacker_vpc.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, Config{}, "scenario", b)
	if len(r.events) != len(lines) || len(r.bad) != 0 {
		t.Fatalf("%d lines gave %d events, bad %v", len(lines), len(r.events), r.bad)
	}
	if !Sniff(b) {
		t.Error("Sniff does not recognise the scenario file")
	}
	for i, e := range r.events {
		n := e.Norm
		if e.Time.IsZero() || n.SrcIP == "" || n.DstIP == "" || n.DstPort == 0 || n.Protocol != "tcp" ||
			n.Account == "" || (n.Outcome != "success" && n.Outcome != "failure") {
			t.Errorf("line %d: incomplete event %+v at %v", i+1, n, e.Time)
		}
		if e.Type != ingest.TypeVPCFlow || string(e.Raw) != lines[i] {
			t.Errorf("line %d: type %q raw %q", i+1, e.Type, e.Raw)
		}
	}
}
