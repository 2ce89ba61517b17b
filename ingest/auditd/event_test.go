package auditd

import (
	"reflect"
	"testing"
)

func TestSyscallName(t *testing.T) {
	tests := []struct {
		arch string
		nums map[string]string
	}{
		{archX86_64, map[string]string{
			"59": "execve", "322": "execveat", "2": "open", "257": "openat", "42": "connect", "43": "accept",
			"49": "bind", "101": "ptrace", "175": "init_module", "313": "finit_module", "176": "delete_module",
			"105": "setuid", "106": "setgid", "90": "chmod", "268": "fchmodat", "92": "chown", "87": "unlink",
			"263": "unlinkat", "82": "rename", "264": "renameat", "165": "mount", "166": "umount2", "62": "kill",
			"56": "clone", "57": "fork", "58": "vfork", "41": "socket", "44": "sendto", "319": "memfd_create",
			"321": "bpf", "135": "personality", "435": "clone3",
		}},
		{"C00000B7", map[string]string{
			"221": "execve", "281": "execveat", "56": "openat", "203": "connect", "202": "accept", "200": "bind",
			"117": "ptrace", "105": "init_module", "273": "finit_module", "106": "delete_module", "146": "setuid",
			"144": "setgid", "53": "fchmodat", "35": "unlinkat", "38": "renameat", "40": "mount", "39": "umount2",
			"129": "kill", "220": "clone", "198": "socket", "206": "sendto", "279": "memfd_create", "280": "bpf",
			"92": "personality", "37": "linkat",
		}},
		{"40000003", map[string]string{"11": ""}},
		{archX86_64, map[string]string{"-1": "", "99999": "", "x": "", "": ""}},
	}
	for _, tt := range tests {
		for num, want := range tt.nums {
			if got := syscallName(tt.arch, num); got != want {
				t.Errorf("syscallName(%s, %q) = %q, want %q", tt.arch, num, got, want)
			}
		}
	}
}

func TestDecodeSockaddr(t *testing.T) {
	tests := []struct {
		saddr string
		want  map[string]any
	}{
		{"02000050A9FEA9FE0000000000000000", map[string]any{"saddr_fam": "inet", "laddr": "169.254.169.254", "lport": "80"}},
		{"0A0001BB00000000" + "20010DB8000000000000000000000001" + "00000000", map[string]any{"saddr_fam": "inet6", "laddr": "2001:db8::1", "lport": "443"}},
		{"0A000050000000000000000000000000FFFF0A000001", map[string]any{"saddr_fam": "inet6"}},
		{"0A000050000000000000000000000000" + "0000FFFF0A000001", map[string]any{"saddr_fam": "inet6", "laddr": "10.0.0.1", "lport": "80"}},
		{"01002F72756E2F782E736F636B00", map[string]any{"saddr_fam": "local", "path": "/run/x.sock"}},
		{"0100006162630000", map[string]any{"saddr_fam": "local", "path": "@abc"}},
		{"100000000000000000000000", map[string]any{"saddr_fam": "netlink"}},
		{"2800", map[string]any{"saddr_fam": "40"}},
		{"02", nil},
		{"0200ZZ", nil},
		{"020", nil},
	}
	for _, tt := range tests {
		if got := decodeSockaddr(tt.saddr); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodeSockaddr(%s) = %v, want %v", tt.saddr, got, tt.want)
		}
	}
}
