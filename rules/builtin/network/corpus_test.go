// Package network_test replays the VPC flow records of the external corpus
// (every record format documented by AWS, and the flow lines of an attack
// storyline) through the built-in VPC flow rules.
package network_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/ingest/vpcflow"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
)

// loadRules loads the built-in VPC flow rules with the shared lists.
func loadRules(t *testing.T) *rules.Set {
	t.Helper()
	set, err := rules.Load(builtin.FS, "lists", "network")
	if err != nil {
		t.Fatalf("load built-in network rules: %v", err)
	}
	return set
}

// alerts decodes flow lines in the given format (the default format when
// empty) and returns, per event, the IDs of the rules that fire. It fails
// on malformed records and on evaluation errors.
func alerts(t *testing.T, set *rules.Set, format, lines, src string) [][]string {
	t.Helper()
	d, err := vpcflow.New(vpcflow.Config{Format: format})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	err = d.Decode(context.Background(), strings.NewReader(lines), src, ingest.Handler{
		Event: func(e *ingest.Event) error {
			var ids []string
			for _, r := range set.Rules {
				ok, err := r.Eval(e.Fields)
				if err != nil {
					t.Errorf("%s: %v", src, err)
				}
				if ok {
					ids = append(ids, r.ID)
				}
			}
			out = append(out, ids)
			return nil
		},
		Bad: func(e *ingest.DecodeError) { t.Errorf("bad record: %v", e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAWSDocumentedRecords evaluates every documented record format. The
// documentation's examples are internal traffic, NODATA/SKIPDATA, ICMP,
// IPv6 and custom formats; none of them is an attack, so nothing may fire.
func TestAWSDocumentedRecords(t *testing.T) {
	f, err := os.Open(corpus.Path(t, "aws-docs-vpc-flow", "aws_docs_vpc_flow_examples.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := loadRules(t)
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ex struct {
			Section string `json:"section"`
			Format  string `json:"format"`
			Record  string `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ex); err != nil {
			t.Fatal(err)
		}
		for _, ids := range alerts(t, set, ex.Format, ex.Record+"\n", ex.Section) {
			n++
			if len(ids) > 0 {
				t.Errorf("%s: %q fired %v", ex.Section, ex.Record, ids)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("evaluated %d documented records, want at least 20", n)
	}
}

// TestAttackStoryline replays the flow lines of the compromised-root
// scenario: an SSH session from the attacker's address, a rejected internal
// probe, an S3 download and 1 MiB pushed back over SSH. Only the inbound
// SSH session is a vigil alert; the uploads are far below the large-transfer
// threshold.
func TestAttackStoryline(t *testing.T) {
	data, err := os.ReadFile(corpus.Path(t, "panther-analysis", "scenarios", "compromised-root-creds__attacker_vpc.log"))
	if err != nil {
		t.Fatal(err)
	}
	got := alerts(t, loadRules(t), "", string(data), "attacker_vpc.log")
	want := [][]string{{"vpcflow-remote-admin-from-internet"}, nil, nil, nil, nil, nil}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Errorf("alerts per record = %v, want %v", got, want)
	}
}
