// Package conformance_test replays the labelled CloudTrail test cases of an
// upstream detection suite (panther-analysis, in the external corpus)
// through vigil's built-in rules and compares verdicts.
//
// panther.pairs (YAML) pairs a vigil rule with an upstream rule. For every upstream
// case of a pair, the case's record is decoded by the CloudTrail decoder and
// matched by the vigil rule alone; "fired" must equal the upstream expected
// verdict, except for cases listed as deliberate disagreements. The test
// fails when fewer than minPairs pairs are mapped, when agreement falls
// below minAgreement, when an undocumented disagreement appears, and when a
// documented one agrees again (the list must stay honest).
//
// TestCloudTrailRuleTests runs the tests written in the CloudTrail rule
// files strictly (each rule needs a firing and a quiet test) and requires
// the rules to be free of lint warnings.
//
// TestCorpusStories replays whole recorded CloudTrail files of the corpus
// (an attack storyline, a recorded credential theft, the documented
// sign-in examples) through the built-in pack and checks which CloudTrail
// rules fire.
package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/cloudtrail"
	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
	"github.com/vigilsec/vigil/rules/ruletest"
)

const (
	// minPairs is the least number of mapped rule pairs.
	minPairs = 40
	// minAgreement is the least share of cases, over all pairs, where the
	// vigil verdict equals the upstream one.
	minAgreement = 0.95
)

// pair maps one vigil rule to one upstream rule.
type pair struct {
	Vigil         string         `yaml:"vigil"`
	Upstream      string         `yaml:"upstream"`
	Disagreements []disagreement `yaml:"disagreements"`
}

// disagreement is an upstream test case where vigil deliberately differs.
type disagreement struct {
	Test   string `yaml:"test"`
	Reason string `yaml:"reason"`
}

// upstreamCase is one line of tests_cloudtrail.ndjson.
type upstreamCase struct {
	RuleID   string          `json:"rule_id"`
	TestName string          `json:"test_name"`
	Expected bool            `json:"expected"`
	Log      json.RawMessage `json:"log"`
}

func loadPairs(t *testing.T) []pair {
	t.Helper()
	f, err := os.Open("panther.pairs")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var pairs []pair
	if err := dec.Decode(&pairs); err != nil {
		t.Fatalf("panther.pairs: %v", err)
	}
	seen := map[[2]string]bool{}
	for i, p := range pairs {
		if p.Vigil == "" || p.Upstream == "" {
			t.Fatalf("panther.pairs: pair %d lacks vigil or upstream", i+1)
		}
		k := [2]string{p.Vigil, p.Upstream}
		if seen[k] {
			t.Fatalf("panther.pairs: pair %s / %s listed twice", p.Vigil, p.Upstream)
		}
		seen[k] = true
		for _, d := range p.Disagreements {
			if d.Test == "" || strings.TrimSpace(d.Reason) == "" {
				t.Fatalf("panther.pairs: %s: a disagreement needs a test name and a reason", p.Upstream)
			}
		}
	}
	return pairs
}

func loadCases(t *testing.T) map[string][]upstreamCase {
	t.Helper()
	f, err := os.Open(corpus.Path(t, "panther-analysis", "tests_cloudtrail.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases := map[string][]upstreamCase{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var c upstreamCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("tests_cloudtrail.ndjson:%d: %v", line, err)
		}
		cases[c.RuleID] = append(cases[c.RuleID], c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// verdict decodes record as one CloudTrail line and reports whether rule
// fired on any event it yields. bad describes records the decoder
// rejected; evalErr is the rule's last evaluation error, if any.
func verdict(dec *cloudtrail.Decoder, rule *rules.Rule, record []byte) (fired bool, bad, evalErr string, err error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, record); err != nil {
		return false, "", "", fmt.Errorf("compact record: %w", err)
	}
	buf.WriteByte('\n')
	// A suppressed rule's match is a signal for the correlator, which
	// opens the alert: it fired too.
	m, err := detect.New([]*rules.Rule{rule}, detect.Config{Signal: func(detect.Signal) {
		fired = fired || rule.Correlate == nil
	}})
	if err != nil {
		return false, "", "", err
	}
	var rejected []string
	h := ingest.Handler{
		Event: func(ev *ingest.Event) error {
			if len(m.Match(ev)) > 0 {
				fired = true
			}
			return nil
		},
		Bad: func(e *ingest.DecodeError) { rejected = append(rejected, e.Error()) },
	}
	if err := dec.Decode(context.Background(), &buf, "file://conformance", h); err != nil {
		return false, "", "", err
	}
	if st := m.Stats(); len(st.Rules) > 0 && st.Rules[0].Errors > 0 {
		evalErr = st.Rules[0].LastError
	}
	return fired, strings.Join(rejected, "; "), evalErr, nil
}

func TestPantherCloudTrail(t *testing.T) {
	cases := loadCases(t)
	pairs := loadPairs(t)
	set, err := rules.Load(builtin.FS)
	if err != nil {
		t.Fatalf("loading the built-in pack: %v", err)
	}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		t.Fatal(err)
	}

	var total, agree int
	upstreamRules := map[string]bool{}
	for _, p := range pairs {
		t.Run(p.Vigil+"~"+p.Upstream, func(t *testing.T) {
			rule := set.Rule(p.Vigil)
			if rule == nil {
				t.Fatalf("vigil rule %s is not in the built-in pack", p.Vigil)
			}
			if !slices.Contains(rule.LogTypes, ingest.TypeCloudTrail) {
				t.Fatalf("vigil rule %s does not read cloudtrail", p.Vigil)
			}
			cs := cases[p.Upstream]
			if len(cs) == 0 {
				t.Fatalf("upstream rule %s has no cases in the corpus", p.Upstream)
			}
			upstreamRules[p.Upstream] = true
			documented := map[string]string{}
			for _, d := range p.Disagreements {
				documented[d.Test] = d.Reason
			}
			for _, c := range cs {
				fired, bad, evalErr, err := verdict(dec, rule, c.Log)
				if err != nil {
					t.Fatalf("%s: %v", c.TestName, err)
				}
				if evalErr != "" {
					t.Errorf("%q: %s failed to evaluate: %s", c.TestName, p.Vigil, evalErr)
				}
				total++
				_, isDocumented := documented[c.TestName]
				delete(documented, c.TestName)
				switch {
				case fired == c.Expected && isDocumented:
					agree++
					t.Errorf("%q now agrees (fired=%v); remove it from the disagreements in panther.pairs", c.TestName, fired)
				case fired == c.Expected:
					agree++
				case !isDocumented:
					t.Errorf("%q: upstream expects %v, %s fired=%v (undocumented disagreement) %s",
						c.TestName, c.Expected, p.Vigil, fired, bad)
				}
			}
			for name := range documented {
				t.Errorf("disagreement %q names no upstream case of %s", name, p.Upstream)
			}
		})
	}

	if total == 0 {
		t.Fatal("no upstream cases replayed")
	}
	share := float64(agree) / float64(total)
	t.Logf("panther-analysis CloudTrail conformance: %d pairs (%d upstream rules), %d cases, %d agree (%.1f%%)",
		len(pairs), len(upstreamRules), total, agree, 100*share)
	if len(pairs) < minPairs {
		t.Errorf("%d pairs mapped, want at least %d", len(pairs), minPairs)
	}
	if share < minAgreement {
		t.Errorf("agreement %.1f%%, want at least %.0f%%", 100*share, 100*minAgreement)
	}
}

func TestCloudTrailRuleTests(t *testing.T) {
	set, err := rules.Load(builtin.FS)
	if err != nil {
		t.Fatalf("loading the built-in pack: %v", err)
	}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ruletest.Config{Decoders: map[string]ingest.Decoder{ingest.TypeCloudTrail: dec}, Strict: true}
	n := 0
	for _, r := range set.Rules {
		if !slices.Equal(r.LogTypes, []string{ingest.TypeCloudTrail}) {
			continue
		}
		n++
		t.Run(r.ID, func(t *testing.T) {
			for _, res := range ruletest.RunRule(context.Background(), r, cfg) {
				if !res.Passed() {
					t.Error(res)
				}
			}
		})
	}
	if n == 0 {
		t.Fatal("the built-in pack has no CloudTrail rules")
	}
	var ct []*rules.Rule
	for _, r := range set.Rules {
		if slices.Contains(r.LogTypes, ingest.TypeCloudTrail) {
			ct = append(ct, r)
		}
	}
	for _, d := range rules.Lint(&rules.Set{Rules: ct}) {
		t.Errorf("lint: %v", d)
	}
}

// storyInput returns the CloudTrail lines of a corpus file: the file itself,
// or, when wrapped is true, the "event" member of each line.
func storyInput(t *testing.T, path string, wrapped bool) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !wrapped {
		return data
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var w struct {
			Event json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := json.Compact(&out, w.Event); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestCorpusStories(t *testing.T) {
	corpus.Dir(t)
	set, err := rules.Load(builtin.FS)
	if err != nil {
		t.Fatalf("loading the built-in pack: %v", err)
	}
	var ctRules []*rules.Rule
	for _, r := range set.Rules {
		if slices.Contains(r.LogTypes, ingest.TypeCloudTrail) {
			ctRules = append(ctRules, r)
		}
	}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    []string
		wrapped bool
		want    []string // rules that fire, sorted
	}{
		{
			name: "root credentials compromised: attacker",
			path: []string{"panther-analysis", "scenarios", "compromised-root-creds__attacker_cloudtrail.ndjson"},
			// The attacker's StopLogging failed (errorCode), so the trail rule stays quiet.
			want: []string{"aws-console-login-failed", "aws-console-login-without-mfa", "aws-gpu-instance-launched",
				"aws-iam-access-key-for-other-user", "aws-iam-policy-changed", "aws-iam-user-created", "aws-root-access-key-created",
				"aws-root-account-usage"},
		},
		{
			name: "root credentials compromised: legitimate owner",
			path: []string{"panther-analysis", "scenarios", "compromised-root-creds__victim_cloudtrail.ndjson"},
			want: []string{"aws-console-login-without-mfa", "aws-root-account-usage"},
		},
		{
			name: "EC2 instance credentials replayed from outside, S3 exfiltration",
			path: []string{"otrf-security-datasets", "aws_cloudtrail_ec2_proxy_s3_exfiltration_2020-09-14011940.ndjson"},
			want: []string{"aws-instance-credentials-used-outside-aws"},
		},
		{
			name:    "documented sign-in and IAM examples",
			path:    []string{"aws-docs-cloudtrail", "aws_docs_cloudtrail_examples.ndjson"},
			wrapped: true,
			want: []string{"aws-console-login-failed", "aws-console-login-without-mfa", "aws-iam-role-trust-opened",
				"aws-iam-user-created", "aws-root-account-usage", "aws-root-password-changed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fired := map[string]bool{}
			suppressed := map[string]bool{}
			for _, r := range ctRules {
				suppressed[r.ID] = r.Suppress != nil
			}
			// A suppressed rule's match is a signal for the correlator,
			// which opens the alert: it fired too.
			m, err := detect.New(ctRules, detect.Config{Signal: func(s detect.Signal) {
				if suppressed[s.RuleID] {
					fired[s.RuleID] = true
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			h := ingest.Handler{
				Event: func(ev *ingest.Event) error {
					for _, a := range m.Match(ev) {
						fired[a.RuleID] = true
					}
					return nil
				},
				Bad: func(e *ingest.DecodeError) { t.Errorf("decode: %v", e) },
			}
			in := storyInput(t, corpus.Path(t, tt.path...), tt.wrapped)
			if err := dec.Decode(context.Background(), bytes.NewReader(in), "file://"+tt.path[len(tt.path)-1], h); err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(maps.Keys(fired))
			if !slices.Equal(got, tt.want) {
				t.Errorf("rules fired:\n got %q\nwant %q", got, tt.want)
			}
			for _, rs := range m.Stats().Rules {
				if rs.Errors > 0 {
					t.Errorf("rule %s: %d evaluation errors, last: %s", rs.ID, rs.Errors, rs.LastError)
				}
			}
		})
	}
}

// BenchmarkCloudTrailPack measures the built-in CloudTrail rules on the
// decoded upstream test records (one Match per record, all rules indexed
// as the matcher indexes them).
func BenchmarkCloudTrailPack(b *testing.B) {
	set, err := rules.Load(builtin.FS)
	if err != nil {
		b.Fatalf("loading the built-in pack: %v", err)
	}
	var ctRules []*rules.Rule
	for _, r := range set.Rules {
		if slices.Contains(r.LogTypes, ingest.TypeCloudTrail) {
			ctRules = append(ctRules, r)
		}
	}
	data, err := os.ReadFile(corpus.Path(b, "panther-analysis", "tests_cloudtrail.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	var in bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var c upstreamCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			b.Fatal(err)
		}
		if err := json.Compact(&in, c.Log); err != nil {
			b.Fatal(err)
		}
		in.WriteByte('\n')
	}
	dec, err := cloudtrail.New(cloudtrail.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var events []*ingest.Event
	h := ingest.Handler{Event: func(ev *ingest.Event) error { events = append(events, ev); return nil }}
	if err := dec.Decode(context.Background(), &in, "file://bench", h); err != nil {
		b.Fatal(err)
	}
	m, err := detect.New(ctRules, detect.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, ev := range events {
			m.Match(ev)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}
