// Package lists_test checks the built-in indicator lists: each loads, holds
// well-formed unique items, and the mining pool list still contains every
// domain of the upstream sources it was seeded from.
package lists_test

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest/corpus"
	"github.com/vigilsec/vigil/rules"
	"github.com/vigilsec/vigil/rules/builtin"
)

// items returns the items of a list file: lines that are neither blank nor
// comments, trimmed.
func items(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

var (
	hostname = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$`)
	procName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	family   = regexp.MustCompile(`^[a-z]+[0-9]+[a-z]*(-[a-z0-9]+)?$`)
	isPort   = func(s string) bool {
		n, err := strconv.Atoi(s)
		return err == nil && n > 0 && n < 65536 && strconv.Itoa(n) == s
	}
)

func TestListFiles(t *testing.T) {
	tests := []struct {
		file  string
		min   int
		valid func(string) bool
	}{
		{"mining_pool_domains.txt", 400, hostname.MatchString},
		{"miner_ports.txt", 40, isPort},
		{"miner_binaries.txt", 30, procName.MatchString},
		{"gpu_instance_families.txt", 30, family.MatchString},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := items(t, tt.file)
			if len(got) < tt.min {
				t.Errorf("%d items, want at least %d", len(got), tt.min)
			}
			seen := map[string]bool{}
			for _, it := range got {
				if !tt.valid(it) {
					t.Errorf("malformed item %q", it)
				}
				if seen[it] {
					t.Errorf("duplicate item %q", it)
				}
				seen[it] = true
			}
		})
	}
}

func TestListsLoad(t *testing.T) {
	set, err := rules.Load(builtin.FS, "lists")
	if err != nil {
		t.Fatal(err)
	}
	for name, probe := range map[string]string{
		"mining_pool_domains":   "pool.supportxmr.com",
		"miner_ports":           "3333",
		"miner_binaries":        "xmrig",
		"gpu_instance_families": "p4d",
	} {
		l, ok := set.Lists[name]
		if !ok {
			t.Errorf("list %s not loaded", name)
			continue
		}
		if !l.Contains(probe) {
			t.Errorf("list %s lacks %q", name, probe)
		}
	}
}

// TestUpstreamDomainsKept checks that mining_pool_domains.txt still holds
// every domain of the three upstream indicator sets named in its header.
func TestUpstreamDomainsKept(t *testing.T) {
	have := map[string]bool{}
	for _, it := range items(t, "mining_pool_domains.txt") {
		have[it] = true
	}
	var upstream []string
	upstream = append(upstream, items(t, corpus.Path(t, "mining-indicators", "panther_crypto_mining_domains.txt"))...)
	tsv, err := os.Open(corpus.Path(t, "mining-indicators", "sigma_mining_pool_domains.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer tsv.Close()
	sc := bufio.NewScanner(tsv)
	for first := true; sc.Scan(); first = false {
		if !first {
			upstream = append(upstream, strings.SplitN(sc.Text(), "\t", 2)[0])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(corpus.Path(t, "mining-indicators", "falco_miner_lists_and_rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	var falco struct {
		Lists map[string]json.RawMessage `json:"lists"`
	}
	if err := json.Unmarshal(data, &falco); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"miner_domains", "https_miner_domains", "http_miner_domains"} {
		var ds []string
		if err := json.Unmarshal(falco.Lists[name], &ds); err != nil {
			t.Fatalf("falco list %s: %v", name, err)
		}
		upstream = append(upstream, ds...)
	}
	if len(upstream) < 600 {
		t.Fatalf("read %d upstream domains, want at least 600", len(upstream))
	}
	for _, d := range upstream {
		if d = strings.ToLower(strings.TrimSpace(d)); !have[d] {
			t.Errorf("upstream domain %q missing from mining_pool_domains.txt", d)
		}
	}
}
