package correlate

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/vigilsec/vigil/detect"
)

// benchRule is a count rule that never reaches its threshold in the
// benchmarks, so windows stay open.
const benchRule = `id: bench-count
title: bench
severity: low
log_types: [cloudtrail]
when: errorCode == "AccessDenied"
group_by: [userIdentity.arn]
correlate: {type: count, threshold: 1000, window: 1m}`

func benchSignals(n int) []detect.Signal {
	out := make([]detect.Signal, n)
	for i := range out {
		out[i] = detect.Signal{
			RuleID:   "bench-count",
			GroupKey: fmt.Sprintf("userIdentity.arn=arn:aws:iam::111122223333:user/u%07d", i),
			EventID:  fmt.Sprintf("%08x-9b7d-4c1e-8f2a-6d5e4c3b2a19", i),
			LogType:  "cloudtrail",
		}
	}
	return out
}

// cpuTime returns the CPU time of the process in nanoseconds: on a shared
// machine it shows the cost of an operation better than wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCountWindowMemory opens one count window per iteration (one
// event each, the usual shape of a high-cardinality key) and reports the
// heap they hold, expiry queue and key table included, per window
// (B/window, from runtime.MemStats). Run it with -benchtime=1000000x for
// the figure at a million windows.
func BenchmarkCountWindowMemory(b *testing.B) {
	c, err := New(loadRules(b, benchRule), Config{MaxWindows: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	st := c.rules[0].st.(*countState)
	key := []byte("userIdentity.arn=arn:aws:iam::111122223333:user/u")
	prefix := len(key)
	id := []byte("00000000-9b7d-4c1e-8f2a-6d5e4c3b2a19")
	sig := detect.Signal{RuleID: "bench-count", LogType: "cloudtrail"}
	base := t0.UnixNano()
	before := heapInUse()
	i := 0
	for b.Loop() {
		key = strconv.AppendUint(key[:prefix], uint64(1e7+i), 10)
		copy(id, fmt.Appendf(nil, "%08x", i))
		sig.GroupKey, sig.EventID = unsafe.String(&key[0], len(key)), unsafe.String(&id[0], len(id))
		st.add(&sig, base+int64(i))
		i++
	}
	after := heapInUse()
	if st.size() != b.N {
		b.Fatalf("%d windows open, want %d", st.size(), b.N)
	}
	perWindow := float64(after-before) / float64(b.N)
	b.ReportMetric(perWindow, "B/window")
	b.ReportMetric(perWindow*1e6/(1<<20), "MiB/1M-windows")
	runtime.KeepAlive(c)
}

// BenchmarkCountUpdate measures one signal through a count rule in steady
// state: about a million keys, windows opening, growing and expiring as
// event time moves on (each key sees an event about every 1.7 minutes, the
// window is one minute). Keys are drawn uniformly, the worst case for the
// CPU cache. cpu-ns/op is the process's CPU time per update, which a
// loaded machine inflates less than wall time.
func BenchmarkCountUpdate(b *testing.B) { benchCountUpdate(b, 1<<20) }

// BenchmarkCountUpdateHot is BenchmarkCountUpdate over 8,192 keys (each
// seeing events at the same rate), whose windows stay in the CPU cache:
// the cost without memory stalls.
func BenchmarkCountUpdateHot(b *testing.B) { benchCountUpdate(b, 1<<13) }

func benchCountUpdate(b *testing.B, n uint32) {
	c, err := New(loadRules(b, benchRule), Config{})
	if err != nil {
		b.Fatal(err)
	}
	st := c.rules[0].st.(*countState)
	// the key is written in place, as a fresh signal's key would be in cache;
	// the correlator keeps its hash, not the string
	key := []byte("userIdentity.arn=arn:aws:iam::111122223333:user/u")
	prefix := len(key)
	ids := make([]string, 1<<12)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-9b7d-4c1e-8f2a-6d5e4c3b2a19", i)
	}
	base := t0.UnixNano()
	step := int64(100*time.Microsecond) * (1 << 20) / int64(n) // the same event rate per key
	sig := detect.Signal{RuleID: "bench-count", LogType: "cloudtrail"}
	k := uint32(1)
	update := func(i int) {
		k = k*1664525 + 1013904223
		key = strconv.AppendUint(key[:prefix], uint64(1e7+k%n), 10)
		sig.GroupKey, sig.EventID = unsafe.String(&key[0], len(key)), ids[i%len(ids)]
		t := base + int64(i)*step
		st.expire(t)
		st.add(&sig, t)
	}
	for i := range int(n) {
		update(i)
	}
	b.ReportAllocs()
	i := int(n)
	cpu0 := cpuTime()
	for b.Loop() {
		update(i)
		i++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(st.size()), "open-windows")
}

// BenchmarkCorrelatorAdd measures the whole path of one signal: Add into
// the reorder buffer, release by Advance in event-time order, and the
// count window update.
func BenchmarkCorrelatorAdd(b *testing.B) {
	const n = 1 << 16
	sigs := benchSignals(n)
	c, err := New(loadRules(b, benchRule), Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := sigs[i%n]
		s.Time = t0.Add(time.Duration(i) * time.Millisecond)
		if err := c.Add(s); err != nil {
			b.Fatal(err)
		}
		c.Advance(s.Time)
		i++
	}
}

// BenchmarkSuppressAdd measures one signal of a suppressed rule through Add
// and Advance: over 4,096 keys most signals fold into an open period, and
// every key's period closes and opens again each simulated hour.
func BenchmarkSuppressAdd(b *testing.B) {
	const keys = 1 << 12
	c, err := New(loadRules(b, loginRule), Config{})
	if err != nil {
		b.Fatal(err)
	}
	sigs := make([]detect.Signal, keys)
	for i := range sigs {
		sigs[i] = detect.Signal{RuleID: "login", GroupKey: fmt.Sprintf("userIdentity.arn=arn:aws:iam::111122223333:user/u%d", i),
			AlertKey: fmt.Sprintf("userIdentity.arn=arn:aws:iam::111122223333:user/u%d,sourceIPAddress=192.0.2.1", i),
			LogType:  "cloudtrail", Summary: "login"}
	}
	ids := make([]string, 1<<12)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-9b7d-4c1e-8f2a-6d5e4c3b2a19", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := sigs[i%keys]
		s.EventID, s.Time = ids[i%len(ids)], t0.Add(time.Duration(i)*time.Millisecond)
		if err := c.Add(s); err != nil {
			b.Fatal(err)
		}
		c.Advance(s.Time)
		i++
	}
	b.ReportMetric(float64(c.Stats().Rules[0].Alerts)/float64(b.N), "alerts/op")
}
