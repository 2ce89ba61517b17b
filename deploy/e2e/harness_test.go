// Package e2e tests the Kafka roles of vigil as separate processes of the
// built binary, against an in-process Kafka-protocol broker (kfake) and the
// ClickHouse server named by VIGIL_CLICKHOUSE_URL.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	segkafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// vigilBin is the binary built once by TestMain, or the one named by
// VIGIL_E2E_BIN.
var vigilBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("VIGIL_E2E_BIN"); bin != "" { // a binary built elsewhere
		vigilBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "vigil-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	vigilBin = filepath.Join(dir, "vigil")
	out, err := exec.Command("go", "build", "-o", vigilBin, "github.com/vigilsec/vigil/cmd/vigil").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building vigil: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// partitions is the partition count of the test topics.
const partitions = 4

// broker starts kfake on loopback and returns the bus URL the roles get.
func broker(t testing.TB) (*kfake.Cluster, string) {
	t.Helper()
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, "kafka://" + strings.Join(cl.ListenAddrs(), ",") + fmt.Sprintf("?partitions=%d", partitions)
}

// busArgs are the timings that make rebalances take about a second.
var busArgs = []string{"--session-timeout", "1s", "--heartbeat", "100ms", "--rebalance-timeout", "2s"}

// clickhouseDB returns the URL of a fresh database on the test server and
// a connection to it; the database is dropped at the end of the test.
func clickhouseDB(t testing.TB) (string, ch.Conn) {
	t.Helper()
	raw := os.Getenv("VIGIL_CLICKHOUSE_URL")
	if raw == "" {
		msg := "VIGIL_CLICKHOUSE_URL is not set; start a server with `export VIGIL_CLICKHOUSE_URL=$(deploy/clickhouse/start.sh)`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	base := raw[:strings.LastIndex(raw, "/")]
	db := fmt.Sprintf("vigil_e2e_%d", time.Now().UnixNano())
	opts, err := ch.ParseDSN(base + "/default")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		conn.Close()
	})
	return base + "/" + db, conn
}

// proc is one role process, restarted by its test.
type proc struct {
	name string
	args []string
	log  *os.File

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	exit   int
	starts int
}

func newProc(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, args: args, log: f}
	t.Cleanup(func() {
		p.kill()
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(f.Name())
			t.Logf("--- %s log (last 3000 bytes):\n%s", name, tail(data, 3000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// start starts the process (again).
func (p *proc) start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(vigilBin, p.args...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.starts++
	fmt.Fprintf(p.log, "=== start %d\n", p.starts)
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exit = cmd.ProcessState.ExitCode()
		if err != nil && p.exit == 0 {
			p.exit = -1
		}
		p.mu.Unlock()
		close(done)
	}()
}

// running reports whether the process runs, and its exit code if not.
func (p *proc) running() (bool, int) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false, -1 // never started
	}
	select {
	case <-done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return false, p.exit
	default:
		return true, 0
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop interrupts the process and waits for it to end.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.kill()
	}
}

// ctRecord is a CloudTrail record of the test logs.
func ctRecord(id string, at time.Time, user, errorCode string) map[string]any {
	r := map[string]any{
		"eventVersion": "1.08", "eventTime": at.UTC().Format(time.RFC3339), "eventID": id,
		"eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": "eu-west-1",
		"recipientAccountId": "111122223333", "eventType": "AwsApiCall",
		"userIdentity": map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/" + user},
	}
	if errorCode != "" {
		r["errorCode"] = errorCode
	}
	return r
}

// writeCloudTrail writes records as CloudTrail files of at most per records
// each into dir.
func writeCloudTrail(t testing.TB, dir string, recs []map[string]any, per int) {
	t.Helper()
	for i := 0; i*per < len(recs); i++ {
		chunk := recs[i*per : min((i+1)*per, len(recs))]
		data, err := json.Marshal(map[string]any{"Records": chunk})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ct-%04d.json", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ledgerEvents are n events with unique IDs, of which none fires a rule.
func ledgerEvents(n int) []map[string]any {
	base := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = ctRecord(fmt.Sprintf("e2e00000-0000-4000-8000-%012d", i), base.Add(time.Duration(i)*time.Second),
			fmt.Sprintf("user-%d", i%50), "")
	}
	return recs
}

// supervise restarts every process that exits with a failure, and each
// that exits at all unless finite says it may end, until ctx ends.
func supervise(ctx context.Context, t *testing.T, procs []*proc, finite map[*proc]bool) {
	for {
		for _, p := range procs {
			if ok, code := p.running(); !ok && (code != 0 || !finite[p]) {
				p.start(t)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// chaos kills a random process of procs at random intervals until ctx
// ends; supervise restarts it.
func chaos(ctx context.Context, rng *rand.Rand, procs []*proc) int {
	kills := 0
	for {
		select {
		case <-ctx.Done():
			return kills
		case <-time.After(time.Duration(300+rng.IntN(1200)) * time.Millisecond):
		}
		p := procs[rng.IntN(len(procs))]
		if ok, _ := p.running(); ok {
			p.kill()
			kills++
		}
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// count runs a query returning one number.
func count(t testing.TB, conn ch.Conn, db, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), strings.ReplaceAll(query, "DB.", db+".")).Scan(&n); err != nil {
		if strings.Contains(err.Error(), "doesn't exist") || strings.Contains(err.Error(), "does not exist") {
			return 0
		}
		t.Fatal(err)
	}
	return n
}

// collapsed merges the parts of db.events with OPTIMIZE … FINAL until no
// duplicate is left (an OPTIMIZE that meets a background merge in progress
// does nothing), and returns the rows and distinct event IDs.
func collapsed(t testing.TB, conn ch.Conn, db string) (rows, uniq uint64) {
	t.Helper()
	for range 20 {
		if err := conn.Exec(context.Background(), "OPTIMIZE TABLE "+db+".events FINAL"); err != nil {
			t.Fatal(err)
		}
		rows = count(t, conn, db, "SELECT count() FROM DB.events")
		uniq = count(t, conn, db, "SELECT uniqExact(event_id) FROM DB.events")
		if rows == uniq {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return rows, uniq
}

// eventWriter returns a function that writes events to vigil.events keyed
// by their source, as the ingest role keys them, so that one source's
// events reach one matcher in order; it fails t on an error. The producer
// closes when t ends.
func eventWriter(ctx context.Context, t testing.TB, cfg kafka.Config) func(evs ...*ingest.Event) {
	t.Helper()
	prod, err := kafka.NewProducer(cfg, cfg.Topics.Events, kafka.EventCodec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	return func(evs ...*ingest.Event) {
		msgs := make([]storage.Message[*ingest.Event], len(evs))
		for i, ev := range evs {
			msgs[i] = storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev}
		}
		if err := prod.Write(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
}

// signalsPartition is the vigil.signals partition of rule's signals of
// group key: the detect role keys them by rule and key.
func signalsPartition(rule, key string) int {
	return segkafka.Murmur2Balancer{}.Balance(segkafka.Message{Key: []byte(rule + "\x00" + key)}, 0, 1, 2, 3)
}
