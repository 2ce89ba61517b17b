package auditd

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line   string
		typ    string
		node   string
		stamp  string
		serial uint64
		fields map[string]any
		err    error
	}{
		{line: `type=CWD msg=audit(1.5:7):  cwd="/a b"`, typ: "CWD", stamp: "1.5", serial: 7, fields: map[string]any{"cwd": "/a b"}},
		{line: `node=n1 type=PATH msg=audit(1600000000.123:8): item=0 name=2F612062 mode=0100644 inode=00AB`, typ: "PATH", node: "n1", stamp: "1600000000.123", serial: 8,
			fields: map[string]any{"item": "0", "name": "/a b", "mode": "0100644", "inode": "00AB"}},
		{line: `type=SYSCALL msg=audit(1.0:1): a0=4142 comm=4142 exe=414 key="(null)" tty=(none) cwd=(null)`, typ: "SYSCALL", stamp: "1.0", serial: 1,
			fields: map[string]any{"a0": "4142", "comm": "AB", "exe": "414", "key": "(null)", "tty": "(none)"}},
		{line: `type=EXECVE msg=audit(1.0:1): argc=2 a0=4142 a1[0]=43 a1_len=2`, typ: "EXECVE", stamp: "1.0", serial: 1,
			fields: map[string]any{"argc": "2", "a0": "AB", "a1[0]": "C", "a1_len": "2"}},
		{line: `type=PROCTITLE msg=audit(1.0:1): proctitle=6C73002D6C0000`, typ: "PROCTITLE", stamp: "1.0", serial: 1,
			fields: map[string]any{"proctitle": "ls -l"}},
		{line: `type=SYSCALL msg=audit(1.0:1): key=65786563013634626974"`, typ: "SYSCALL", stamp: "1.0", serial: 1,
			fields: map[string]any{"key": "exec\x0164bit"}},
		{line: `type=USER_CMD msg=audit(1.0:2): pid=3 uid=0 msg='cwd="/" cmd=6C73202D6C terminal=pts/0 res=success'`, typ: "USER_CMD", stamp: "1.0", serial: 2,
			fields: map[string]any{"pid": "3", "uid": "0", "cwd": "/", "cmd": "ls -l", "terminal": "pts/0", "res": "success"}},
		{line: "type=SOCKADDR msg=audit(1.0:3): saddr=0200\x1dSADDR={ saddr_fam=inet laddr=0.0.0.0 lport=0 }", typ: "SOCKADDR", stamp: "1.0", serial: 3,
			fields: map[string]any{"saddr": "0200", "SADDR": "{ saddr_fam=inet laddr=0.0.0.0 lport=0 }"}},
		{line: `type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512 res=success`, typ: "DAEMON_CONFIG", stamp: "1490239800.477", serial: 34,
			fields: map[string]any{"auid": "0", "pid": "1512", "res": "success"}},
		{line: `type=X msg=audit(1.0:4): a="unterminated b=c`, typ: "X", stamp: "1.0", serial: 4, fields: map[string]any{"a": "unterminated b=c"}},
		{line: `type=X msg=audit(1.0:4): =v k= k2`, typ: "X", stamp: "1.0", serial: 4, fields: map[string]any{"k": ""}},
		{line: `type=X msg=audit(1.0:4):`, typ: "X", stamp: "1.0", serial: 4, fields: map[string]any{}},
		{line: `msg=audit(1.0:4): a=b`, err: errNoType},
		{line: `type= msg=audit(1.0:4): a=b`, err: errNoType},
		{line: `type=X`, err: errNoAudit},
		{line: `type=X msg=?`, err: errNoAudit},
		{line: `type=X msg=audit(1.0:4`, err: errBadStamp},
		{line: `type=X msg=audit(1.0): a=b`, err: errBadStamp},
		{line: `type=X msg=audit(1.x:4): a=b`, err: errBadStamp},
		{line: `type=X msg=audit(1.0:-4): a=b`, err: errBadStamp},
		{line: `type=X msg=audit(99999999999.0:4): a=b`, err: errBadStamp},
		{line: `type=X msg=audit(1.0123456789:4): a=b`, err: errBadStamp},
	}
	for _, tt := range tests {
		r, err := parseLine([]byte(tt.line))
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.line, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if r.typ != tt.typ || r.node != tt.node || r.stamp != tt.stamp || r.serial != tt.serial || r.raw != tt.line {
			t.Errorf("%q: got type %q node %q stamp %q serial %d", tt.line, r.typ, r.node, r.stamp, r.serial)
		}
		if !reflect.DeepEqual(r.fields, tt.fields) {
			t.Errorf("%q: fields %v, want %v", tt.line, r.fields, tt.fields)
		}
	}
}

func TestParseStampFraction(t *testing.T) {
	for stamp, want := range map[string]int64{"5.1": 100e6, "5.123": 123e6, "5.000001": 1e3, "5": 0, "5.": 0} {
		r, err := parseLine([]byte("type=X msg=audit(" + stamp + ":1): "))
		if err != nil {
			t.Errorf("%s: %v", stamp, err)
		} else if r.sec != 5 || r.nsec != want {
			t.Errorf("%s: sec %d nsec %d, want 5 / %d", stamp, r.sec, r.nsec, want)
		}
	}
}
