package auditd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/ingest"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden.json files")

// decode runs a Decoder over input and collects what it produces.
func decode(tb testing.TB, c Config, input string) ([]*ingest.Event, []*ingest.DecodeError) {
	tb.Helper()
	d, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	var evs []*ingest.Event
	var bad []*ingest.DecodeError
	err = d.Decode(context.Background(), strings.NewReader(input), "test.log", ingest.Handler{
		Event: func(e *ingest.Event) error { evs = append(evs, e); return nil },
		Bad:   func(e *ingest.DecodeError) { bad = append(bad, e) },
	})
	if err != nil {
		tb.Fatalf("Decode: %v", err)
	}
	return evs, bad
}

// want describes an expected event: its sequence, a subset of its fields
// and, when set, its whole Normalized.
type want struct {
	seq    int
	fields map[string]any
	norm   *ingest.Normalized
}

func checkEvents(t *testing.T, got []*ingest.Event, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		var seqs []any
		for _, e := range got {
			seqs = append(seqs, e.Fields["sequence"])
		}
		t.Fatalf("got %d events (sequences %v), want %d", len(got), seqs, len(wants))
	}
	for i, w := range wants {
		e := got[i]
		if e.Fields["sequence"] != w.seq {
			t.Errorf("event %d: sequence %v, want %d", i, e.Fields["sequence"], w.seq)
		}
		if e.Type != ingest.TypeAuditd || e.Source != "test.log" || e.Time.Location() != time.UTC {
			t.Errorf("event %d: envelope Type=%q Source=%q Time=%v", i, e.Type, e.Source, e.Time)
		}
		for k, v := range w.fields {
			if !reflect.DeepEqual(e.Fields[k], v) {
				t.Errorf("event %d (seq %d): %s = %#v, want %#v", i, w.seq, k, e.Fields[k], v)
			}
		}
		if w.norm != nil && e.Norm != *w.norm {
			t.Errorf("event %d (seq %d): Norm = %+v, want %+v", i, w.seq, e.Norm, *w.norm)
		}
	}
}

func badLines(bad []*ingest.DecodeError) []int {
	var lines []int
	for _, b := range bad {
		lines = append(lines, b.Line)
	}
	return lines
}

const (
	execSyscall = `type=SYSCALL msg=audit(1600000000.250:500): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=10 pid=11 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="id" exe="/usr/bin/id" key="exec"`
	execExecve  = `type=EXECVE msg=audit(1600000000.250:500): argc=2 a0="id" a1="-u"`
	execCwd     = `type=CWD msg=audit(1600000000.250:500): cwd="/root"`
	execPath0   = `type=PATH msg=audit(1600000000.250:500): item=0 name="/usr/bin/id" inode=5 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`
	execPath1   = `type=PATH msg=audit(1600000000.250:500): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=6 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`
	execTitle   = `type=PROCTITLE msg=audit(1600000000.250:500): proctitle=6964002D75`
	execEOE     = `type=EOE msg=audit(1600000000.250:500): `
)

// syscallLine builds a minimal SYSCALL record.
func syscallLine(stamp, serial, syscall, extra string) string {
	return "type=SYSCALL msg=audit(" + stamp + ":" + serial + "): arch=c000003e syscall=" + syscall +
		" success=yes exit=0 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=1000 uid=1000 comm=\"x\" exe=\"/bin/x\"" + extra
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		c     Config
		input string
		want  []want
		bad   []int
	}{{
		name:  "coalesce a syscall event",
		input: lines(execSyscall, execExecve, execCwd, execPath0, execPath1, execTitle, execEOE),
		want: []want{{seq: 500, fields: map[string]any{
			"type": "SYSCALL", "syscall": "execve", "comm": "id", "exe": "/usr/bin/id", "key": "exec",
			"types":   []any{"SYSCALL", "EXECVE", "CWD", "PATH", "PATH", "PROCTITLE"},
			"argv":    []any{"id", "-u"},
			"cmdline": "id -u", "proctitle": "id -u", "cwd": "/root",
			"paths": []any{"/usr/bin/id", "/lib64/ld-linux-x86-64.so.2"},
		}, norm: &ingest.Normalized{Actor: "auid=1000", Action: "execve", Target: "/usr/bin/id", Outcome: "success"}}},
	}, {
		name: "interleaved events complete in EOE order",
		input: lines(
			syscallLine("1600000000.001", "10", "2", ""),
			syscallLine("1600000000.002", "11", "2", ""),
			`type=PATH msg=audit(1600000000.001:10): item=0 name="/etc/shadow" nametype=NORMAL`,
			`type=PATH msg=audit(1600000000.002:11): item=0 name="/etc/passwd" nametype=NORMAL`,
			`type=EOE msg=audit(1600000000.002:11): `,
			`type=EOE msg=audit(1600000000.001:10): `,
		),
		want: []want{
			{seq: 11, fields: map[string]any{"syscall": "open", "paths": []any{"/etc/passwd"}}},
			{seq: 10, fields: map[string]any{"syscall": "open", "paths": []any{"/etc/shadow"}}},
		},
	}, {
		name: "out of order records without EOE, primary is SYSCALL",
		input: lines(
			`type=PROCTITLE msg=audit(1600000000.001:10): proctitle="bash"`,
			`type=CWD msg=audit(1600000000.001:10): cwd="/tmp"`,
			syscallLine("1600000000.001", "10", "90", ` key="perm"`),
			`type=PATH msg=audit(1600000000.001:10): item=0 name="/tmp/x" nametype=NORMAL`,
		),
		want: []want{{seq: 10, fields: map[string]any{
			"type": "SYSCALL", "syscall": "chmod", "key": "perm", "cwd": "/tmp", "proctitle": "bash", "cmdline": "bash",
			"types": []any{"PROCTITLE", "CWD", "SYSCALL", "PATH"},
		}}},
	}, {
		name: "hex only for untrusted strings",
		input: lines(
			`type=SYSCALL msg=audit(1600000000.001:10): arch=c000003e syscall=59 success=no exit=-2 a0=deadbeef a1=00 a2=0 a3=0 items=1 ppid=1 pid=1234 auid=4294967295 uid=0 comm=2F746D702F782079 exe=2F746D702F782079202864656C6574656429 key=(null)`,
			`type=PATH msg=audit(1600000000.001:10): item=0 name=2F746D702F782079 inode=12 mode=0100755 nametype=NORMAL`,
			`type=CWD msg=audit(1600000000.001:10): cwd=2F`,
			`type=EOE msg=audit(1600000000.001:10): `,
		),
		want: []want{{seq: 10, fields: map[string]any{
			"a0": "deadbeef", "a1": "00", "pid": "1234", "inode": nil, "arch": "c000003e",
			"comm": "/tmp/x y", "exe": "/tmp/x y (deleted)", "key": nil, "paths": []any{"/tmp/x y"}, "cwd": "/",
		}, norm: &ingest.Normalized{Actor: "uid=0", Action: "execve", Target: "/tmp/x y", Outcome: "failure"}}},
	}, {
		name: "split EXECVE arguments over two records",
		input: lines(
			syscallLine("1600000000.001", "10", "59", ""),
			`type=EXECVE msg=audit(1600000000.001:10): argc=3 a0="sh" a1_len=10 a1[0]=6563686F2068`,
			`type=EXECVE msg=audit(1600000000.001:10): a1[1]="i;id" a2="-x"`,
			`type=EOE msg=audit(1600000000.001:10): `,
		),
		want: []want{{seq: 10, fields: map[string]any{
			"argv": []any{"sh", "echo hi;id", "-x"}, "cmdline": "sh echo hi;id -x",
		}}},
	}, {
		name: "argv stops at a missing argument and never reads past argc",
		input: lines(
			syscallLine("1600000000.001", "10", "59", ""),
			`type=EXECVE msg=audit(1600000000.001:10): argc=4 a0="a" a1="b" a3="d" a4="e"`,
		),
		want: []want{{seq: 10, fields: map[string]any{"argv": []any{"a", "b"}}}},
	}, {
		name: "node prefix separates events and sets node",
		input: lines(
			"node=a "+syscallLine("1600000000.001", "10", "59", ""),
			"node=b "+syscallLine("1600000000.001", "10", "62", ""),
			"node=a type=EOE msg=audit(1600000000.001:10): ",
			"node=b type=EOE msg=audit(1600000000.001:10): ",
		),
		want: []want{
			{seq: 10, fields: map[string]any{"node": "a", "syscall": "execve"}},
			{seq: 10, fields: map[string]any{"node": "b", "syscall": "kill"}},
		},
	}, {
		name: "user-space record: nested msg, immediate emission",
		input: lines(
			syscallLine("1600000000.001", "10", "59", ""),
			`type=USER_LOGIN msg=audit(1600000000.002:11): pid=5 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct=28696E76616C6964207573657229 exe="/usr/sbin/sshd" hostname=? addr=198.51.100.7 terminal=sshd res=failed'`,
		),
		want: []want{
			{seq: 11, fields: map[string]any{
				"type": "USER_LOGIN", "op": "login", "acct": "(invalid user)", "exe": "/usr/sbin/sshd",
				"hostname": "?", "addr": "198.51.100.7", "res": "failed", "msg": nil, "types": []any{"USER_LOGIN"},
			}, norm: &ingest.Normalized{Actor: "uid=0 acct=(invalid user)", Action: "USER_LOGIN", Target: "/usr/sbin/sshd", SrcIP: "198.51.100.7", Outcome: "failure"}},
			{seq: 10},
		},
	}, {
		name: "old user-space format with parentheses",
		input: lines(
			`type=USER_START msg=audit(1170021601.344:297): user pid=13015 uid=0 auid=0 msg='PAM: session open acct=root : exe="/usr/sbin/crond" (hostname=?, addr=?, terminal=cron res=success)'`,
		),
		want: []want{{seq: 297, fields: map[string]any{"acct": "root", "hostname": "?", "addr": "?", "terminal": "cron", "res": "success"},
			norm: &ingest.Normalized{Actor: "auid=0 acct=root", Action: "USER_START", Target: "/usr/sbin/crond", Outcome: "success"}}},
	}, {
		name: "bad lines are reported, the rest goes on",
		input: lines(
			"garbage",
			`type=SYSCALL msg=audit(1600000000.001): syscall=2`,
			`type=SYSCALL msg=audit(x.1:2): syscall=2`,
			`type=UNKNOWN[1329] msg=?`,
			"",
			syscallLine("1600000000.001", "10", "2", ""),
			`type=SYSCALL msg=audit(1600000000.001:10`,
		),
		want: []want{{seq: 10}},
		bad:  []int{1, 2, 3, 4, 7},
	}, {
		name: "serial window flushes open events, late record reported",
		c:    Config{ReorderWindow: 5},
		input: lines(
			syscallLine("1600000000.001", "10", "2", ""),
			syscallLine("1600000000.001", "16", "2", ""),
			`type=PATH msg=audit(1600000000.001:10): item=0 name="/late" nametype=NORMAL`,
			`type=EOE msg=audit(1600000000.001:10): `,
		),
		want: []want{{seq: 10, fields: map[string]any{"paths": nil}}, {seq: 16}},
		bad:  []int{3},
	}, {
		name: "serial window is per node",
		c:    Config{ReorderWindow: 5},
		input: lines(
			"node=a "+syscallLine("1600000000.001", "10", "2", ""),
			"node=b "+syscallLine("1600000000.001", "900", "2", ""),
			"node=a type=PATH msg=audit(1600000000.001:10): item=0 name=\"/etc/hosts\" nametype=NORMAL",
			"node=a type=EOE msg=audit(1600000000.001:10): ",
		),
		want: []want{{seq: 10, fields: map[string]any{"node": "a", "paths": []any{"/etc/hosts"}}}, {seq: 900, fields: map[string]any{"node": "b"}}},
	}, {
		name: "age window flushes open events",
		input: lines(
			syscallLine("1600000000.001", "10", "2", ""),
			syscallLine("1600000001.001", "11", "2", ""),
			syscallLine("1600000003.500", "12", "2", ""),
			`type=EOE msg=audit(1600000003.500:12): `,
		),
		want: []want{{seq: 10}, {seq: 11}, {seq: 12}},
	}, {
		name: "MaxOpen evicts the oldest open event",
		c:    Config{MaxOpen: 2},
		input: lines(
			syscallLine("1600000000.003", "12", "2", ""),
			syscallLine("1600000000.001", "10", "2", ""),
			syscallLine("1600000000.002", "11", "2", ""),
			`type=EOE msg=audit(1600000000.003:12): `,
		),
		want: []want{{seq: 10}, {seq: 12}, {seq: 11}},
	}, {
		name: "EOF order is time then serial, modulo 2^32",
		input: lines(
			syscallLine("1600000000.001", "1", "2", ""),
			syscallLine("1600000000.000", "4294967295", "2", ""),
			syscallLine("1600000000.001", "0", "2", ""),
		),
		want: []want{{seq: 4294967295}, {seq: 0}, {seq: 1}},
	}, {
		name: "several keys, enriched names, aarch64",
		input: lines(
			"type=SYSCALL msg=audit(1600000000.001:10): arch=c00000b7 syscall=117 success=yes exit=0 items=0 ppid=1 pid=2 auid=1000 uid=0 comm=\"gdb\" exe=\"/usr/bin/gdb\" key=7074726163650174313035350174657374\x1dARCH=aarch64 SYSCALL=ptrace AUID=\"alice\" UID=\"root\"",
		),
		want: []want{{seq: 10, fields: map[string]any{
			"syscall": "ptrace", "key": "ptrace", "keys": []any{"ptrace", "t1055", "test"}, "AUID": "alice", "SYSCALL": "ptrace",
		}, norm: &ingest.Normalized{Actor: "auid=1000(alice)", Action: "ptrace", Target: "/usr/bin/gdb", Outcome: "success"}}},
	}, {
		name: "quirks: key= prefix, (null) glued to the next pair, nameless PATH",
		input: lines(
			syscallLine("1600000000.001", "10", "87", ` key="key=cleanup"`),
			`type=PATH msg=audit(1600000000.001:10): item=0 name="/tmp/" nametype=PARENT`,
			`type=PATH msg=audit(1600000000.001:10): item=1 name=(null) nametype=DELETE`,
			`type=PATH msg=audit(1600000000.001:10): item=2 name="/tmp/f" nametype=DELETE`,
			syscallLine("1600000000.002", "11", "87", ` key=(null)ARCH=x86_64 SYSCALL=unlink`),
		),
		want: []want{
			{seq: 10, fields: map[string]any{"syscall": "unlink", "key": "cleanup", "paths": []any{"/tmp/", "", "/tmp/f"}},
				norm: &ingest.Normalized{Actor: "auid=1000", Action: "unlink", Target: "/tmp/f", Outcome: "success"}},
			{seq: 11, fields: map[string]any{"key": nil, "ARCH": "x86_64", "SYSCALL": "unlink"}},
		},
	}, {
		name: "SELinux AVC result and permissions",
		input: lines(
			`type=AVC msg=audit(1600000000.001:10): avc:  denied  { read write } for  pid=7 comm="httpd" name="shadow" dev="dm-0" ino=5 scontext=system_u:system_r:httpd_t:s0 tcontext=system_u:object_r:shadow_t:s0 tclass=file permissive=0`,
			`type=USER_AVC msg=audit(1600000000.002:11): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='avc:  granted  { start } for auid=0 uid=0 gid=0 cmdline="" scontext=system_u:system_r:init_t:s0 tcontext=system_u:object_r:systemd_unit_file_t:s0 tclass=service exe="/usr/lib/systemd/systemd" sauid=0 hostname=? addr=? terminal=?'`,
		),
		want: []want{
			{seq: 11, fields: map[string]any{"type": "USER_AVC", "seresult": "granted", "seperms": "start", "tclass": "service"}},
			{seq: 10, fields: map[string]any{"type": "AVC", "seresult": "denied", "seperms": "read,write", "name": "shadow", "tclass": "file"}},
		},
	}, {
		name: "unknown arch keeps the syscall number",
		input: lines(
			`type=SECCOMP msg=audit(1433785727.186:10262): auid=20003 uid=22 gid=22 ses=21 pid=11217 comm="sshd" exe="/usr/sbin/sshd" sig=31 arch=40000003 syscall=132 compat=0 ip=0xb7670aac code=0x0`,
			`type=SYSCALL msg=audit(1433785727.187:10263): arch=40000003 syscall=11 success=yes exit=0 items=0 ppid=1 pid=2 auid=5 uid=5`,
		),
		want: []want{{seq: 10262, fields: map[string]any{"syscall": "132", "type": "SECCOMP"}}, {seq: 10263, fields: map[string]any{"syscall": "11"}}},
	}, {
		name: "sockaddr inet for connect is the destination, for accept the source",
		input: lines(
			syscallLine("1600000000.001", "10", "42", ""),
			`type=SOCKADDR msg=audit(1600000000.001:10): saddr=02000D3DC0A8010A0000000000000000`,
			syscallLine("1600000000.001", "11", "43", ""),
			`type=SOCKADDR msg=audit(1600000000.001:11): saddr=0A000016000000000000000000000000000000000000000100000000`,
		),
		want: []want{
			{seq: 10, fields: map[string]any{"sockaddr": map[string]any{"saddr_fam": "inet", "laddr": "192.168.1.10", "lport": "3389"}},
				norm: &ingest.Normalized{Actor: "auid=1000", Action: "connect", Target: "/bin/x", DstIP: "192.168.1.10", DstPort: 3389, Outcome: "success"}},
			{seq: 11, fields: map[string]any{"sockaddr": map[string]any{"saddr_fam": "inet6", "laddr": "::1", "lport": "22"}},
				norm: &ingest.Normalized{Actor: "auid=1000", Action: "accept", Target: "/bin/x", SrcIP: "::1", SrcPort: 22, Outcome: "success"}},
		},
	}, {
		name: "syslog prefix and kernel console form",
		input: lines(
			`Nov 25 10:00:00 host1 audisp-syslog: node=host1 type=SYSCALL msg=audit(1600000000.001:10): arch=c000003e syscall=165 success=yes exit=0 items=0 ppid=1 pid=2 auid=0 uid=0`,
			`[   12.5] audit: type=1300 audit(1600000000.002:11): arch=c000003e syscall=175 success=yes exit=0 items=0 ppid=1 pid=2 auid=4294967295 uid=0 comm="insmod"`,
		),
		want: []want{
			{seq: 10, fields: map[string]any{"node": "host1", "syscall": "mount"}},
			{seq: 11, fields: map[string]any{"type": "SYSCALL", "syscall": "init_module"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad := decode(t, tt.c, tt.input)
			checkEvents(t, got, tt.want)
			if g := badLines(bad); !reflect.DeepEqual(g, tt.bad) {
				t.Errorf("bad lines %v, want %v (%v)", g, tt.bad, bad)
			}
		})
	}
}

func TestEventEnvelope(t *testing.T) {
	in := lines("node=h1 "+execSyscall, "node=h1 "+execExecve, "node=h1 "+execEOE)
	got, _ := decode(t, Config{}, in)
	if len(got) != 1 {
		t.Fatalf("got %d events", len(got))
	}
	e := got[0]
	if want := ingest.StableID("auditd", "h1", "1600000000.250:500"); e.ID != want {
		t.Errorf("ID = %s, want %s", e.ID, want)
	}
	if want := time.Unix(1600000000, 250e6).UTC(); !e.Time.Equal(want) {
		t.Errorf("Time = %v, want %v", e.Time, want)
	}
	if want := strings.TrimSuffix(in, "\n"); string(e.Raw) != want {
		t.Errorf("Raw = %q, want %q", e.Raw, want)
	}
}

func TestDecodeStops(t *testing.T) {
	d, _ := New(Config{})
	stop := errors.New("stop")
	in := lines(execSyscall, execEOE, strings.Replace(execSyscall, ":500", ":501", 1))
	n := 0
	err := d.Decode(context.Background(), strings.NewReader(in), "s", ingest.Handler{
		Event: func(*ingest.Event) error { n++; return stop },
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("handler error: got %v after %d events", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = d.Decode(ctx, strings.NewReader(in), "s", ingest.Handler{Event: func(*ingest.Event) error { return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: got %v", err)
	}
}

func TestRecordTooLarge(t *testing.T) {
	in := lines(execSyscall+strings.Repeat(" x=y", 100), execExecve)
	got, bad := decode(t, Config{Limits: ingest.Limits{MaxRecordBytes: 300}}, in)
	if len(bad) != 1 || bad[0].Line != 1 || !errors.Is(bad[0], ingest.ErrRecordTooLarge) {
		t.Errorf("bad = %v", bad)
	}
	checkEvents(t, got, []want{{seq: 500, fields: map[string]any{"type": "EXECVE", "argv": []any{"id", "-u"}}}})
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{ReorderWindow: -1}, {ReorderWindow: 1 << 31}, {MaxAge: -1}, {MaxOpen: -1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		head string
		want bool
	}{
		{execSyscall + "\n" + execExecve, true},
		{"\n\nnode=h1 " + execSyscall, true},
		{execSyscall[:60], true},
		{`{"type":"SYSCALL","msg":"audit(1:2)"}`, false},
		{"2 123456789012 eni-abc 10.0.0.1 10.0.0.2 443 49152 6 10 840 1620000000 1620000060 ACCEPT OK", false},
		{"type=SYSCALL arch=c000003e", false},
		{"hello type=SYSCALL msg=audit(1:2): x=y", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Sniff([]byte(tt.head)); got != tt.want {
			t.Errorf("Sniff(%.40q) = %v, want %v", tt.head, got, tt.want)
		}
	}
}

// golden is the stable rendering of a decode, compared with
// testdata/NAME.golden.json.
type golden struct {
	Events []goldenEvent `json:"events"`
	Bad    []string      `json:"bad"`
}

type goldenEvent struct {
	ID     string            `json:"id"`
	Time   string            `json:"time"`
	Fields map[string]any    `json:"fields"`
	Norm   ingest.Normalized `json:"norm"`
	Raw    string            `json:"raw"`
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			evs, bad := decode(t, Config{}, string(in))
			var g golden
			for _, e := range evs {
				g.Events = append(g.Events, goldenEvent{ID: e.ID, Time: e.Time.Format(time.RFC3339Nano), Fields: e.Fields, Norm: e.Norm, Raw: string(e.Raw)})
			}
			for _, b := range bad {
				g.Bad = append(g.Bad, b.Error())
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := strings.TrimSuffix(file, ".log") + ".golden.json"
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the decode; run go test -run TestGolden -update and review the diff", path)
			}
		})
	}
}
