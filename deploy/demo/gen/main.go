// Command gen writes vigil's bundled demo logs: one attack story told across
// CloudTrail, VPC flow logs, EKS audit logs and a Linux host's auditd log, on
// top of ordinary background activity. The output is deterministic (fixed
// seed, fixed times), so running it again reproduces the committed files:
//
//	go run ./deploy/demo/gen            # writes into deploy/demo
//	go run ./deploy/demo/gen -out DIR   # writes into DIR
//
// deploy/demo/README.md tells the story and lists what should fire.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Identifiers shared by the story across log types.
const (
	account   = "111122223333"
	region    = "eu-west-1"
	cluster   = "acme-prod"
	attackIP  = "203.0.113.45"  // attacker's workstation
	stagerIP  = "203.0.113.77"  // serves x.sh and the miner
	poolIP    = "198.51.100.23" // pool.example resolves here
	gpuIP     = "10.0.12.34"    // first GPU instance (the audited host)
	gpuIP2    = "10.0.12.57"    // second GPU instance
	gpuID     = "i-0a1b2c3d4e5f60718"
	gpuID2    = "i-0a1b2c3d4e5f60729"
	gpuENI    = "eni-0c4d5e6f7a8b90123"
	gpuENI2   = "eni-0c4d5e6f7a8b90456"
	gpuHost   = "ip-10-0-12-34"
	vpcID     = "vpc-0a1b2c3d4e5f67890"
	flowLogA  = "fl-0f1e2d3c4b5a69788" // VPC-wide, default format, keeps running
	flowLogB  = "fl-0c9d8e7f6a5b4c3d2" // security team's custom v5 log, deleted by the attacker
	gpuSG     = "sg-0a7c3e9b5d1f24680"
	gpuSubnet = "subnet-0e1d2c3b4a5968778"
)

// day is the story's date at 00:00 UTC.
var day = time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)

// at returns the story time hh:mm:ss plus ms milliseconds.
func at(h, m, s, ms int) time.Time {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute +
		time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond)
}

func main() {
	out := flag.String("out", "deploy/demo", "directory to write the demo logs into")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// run writes every log type into dir.
func run(dir string) error {
	g := newGen(20260314)
	files := map[string][]byte{}
	for _, add := range []func(*gen, map[string][]byte) error{
		writeCloudTrail, writeVPCFlow, writeK8s, writeAuditd,
	} {
		if err := add(g, files); err != nil {
			return err
		}
	}
	// Replace the previous output so renamed files do not linger.
	for _, d := range []string{"cloudtrail", "vpcflow", "k8s", "auditd"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// gen holds the deterministic random source used for identifiers and jitter.
type gen struct {
	r    *rand.Rand
	memo map[string]string
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), memo: map[string]string{}}
}

// uuidFor returns the same random UUID for the same key, so that an
// object (a service account, a pod) keeps its UID across records.
func (g *gen) uuidFor(key string) string {
	if u, ok := g.memo[key]; ok {
		return u
	}
	u := g.uuid()
	g.memo[key] = u
	return u
}

// intn returns a pseudo-random int in [0, n).
func (g *gen) intn(n int) int { return g.r.IntN(n) }

// between returns a pseudo-random int in [lo, hi].
func (g *gen) between(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

// chance reports true with probability p.
func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// pick returns one element of xs.
func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

// uuid returns a random (version 4 shaped) UUID.
func (g *gen) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// hex returns n random lowercase hex digits.
func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	for range n {
		sb.WriteByte(digits[g.r.IntN(16)])
	}
	return sb.String()
}

// alnum returns n random characters from set.
func (g *gen) alnum(n int, set string) string {
	var sb strings.Builder
	for range n {
		sb.WriteByte(set[g.r.IntN(len(set))])
	}
	return sb.String()
}

const (
	upperDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	mixed       = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// jitter returns t plus up to maxMs random milliseconds.
func (g *gen) jitter(t time.Time, maxMs int) time.Time {
	return t.Add(time.Duration(g.r.IntN(maxMs+1)) * time.Millisecond)
}

// F is one member of an ordered JSON object.
type F struct {
	K string
	V any
}

// O is a JSON object that keeps its members in the order given, as AWS and
// the Kubernetes API server write them.
type O []F

// MarshalJSON writes the members in order.
func (o O) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := marshal(f.K)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		v, err := marshal(f.V)
		if err != nil {
			return nil, err
		}
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// A is a JSON array (shorthand for literals).
type A = []any

// marshal encodes v without HTML escaping and without a trailing newline.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// gz compresses data deterministically (no name, no modification time).
func gz(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
