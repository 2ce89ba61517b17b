package auditd

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/vigilsec/vigil/ingest"
)

// benchStream builds n execve events (SYSCALL, EXECVE, CWD, two PATHs,
// PROCTITLE, EOE), every other one interleaved with the next.
func benchStream(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i += 2 {
		for _, s := range []int{i, i + 1} {
			fmt.Fprintf(&b, "type=SYSCALL msg=audit(1700000000.%03d:%d): arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=8 items=2 ppid=900 pid=%d auid=1001 uid=1001 gid=1001 euid=1001 suid=1001 fsuid=1001 egid=1001 sgid=1001 fsgid=1001 tty=pts0 ses=7 comm=\"curl\" exe=\"/usr/bin/curl\" subj=unconfined key=\"exec\"\n", s%1000, s, s)
		}
		for _, s := range []int{i, i + 1} {
			stamp := fmt.Sprintf("1700000000.%03d:%d", s%1000, s)
			fmt.Fprintf(&b, "type=EXECVE msg=audit(%s): argc=3 a0=\"curl\" a1=\"-s\" a2=68656C6C6F20776F726C64\n", stamp)
			fmt.Fprintf(&b, "type=CWD msg=audit(%s): cwd=\"/home/alice\"\n", stamp)
			fmt.Fprintf(&b, "type=PATH msg=audit(%s): item=0 name=\"/usr/bin/curl\" inode=1201 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL\n", stamp)
			fmt.Fprintf(&b, "type=PATH msg=audit(%s): item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=1202 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL\n", stamp)
			fmt.Fprintf(&b, "type=PROCTITLE msg=audit(%s): proctitle=6375726C002D730068656C6C6F20776F726C64\n", stamp)
			fmt.Fprintf(&b, "type=EOE msg=audit(%s): \n", stamp)
		}
	}
	return b.Bytes()
}

func BenchmarkDecode(b *testing.B) {
	const n = 10000
	in := benchStream(n)
	d, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	h := ingest.Handler{Event: func(*ingest.Event) error { events++; return nil }}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(context.Background(), bytes.NewReader(in), "bench", h); err != nil {
			b.Fatal(err)
		}
	}
	if events != n*b.N {
		b.Fatalf("%d events, want %d", events, n*b.N)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkParseLine(b *testing.B) {
	line := []byte(execSyscall)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseLine(line); err != nil {
			b.Fatal(err)
		}
	}
}
