package jsonstream

import (
	"testing"
	"time"
)

func TestStr(t *testing.T) {
	m := map[string]any{"s": "x", "n": 1.0, "nil": nil}
	tests := []struct {
		m    map[string]any
		k    string
		want string
	}{
		{m, "s", "x"},
		{m, "n", ""},
		{m, "nil", ""},
		{m, "absent", ""},
		{nil, "s", ""},
	}
	for _, tc := range tests {
		if got := Str(tc.m, tc.k); got != tc.want {
			t.Errorf("Str(%v, %q) = %q, want %q", tc.m, tc.k, got, tc.want)
		}
	}
}

func TestIP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"010.000.000.001", "10.0.0.1"},
		{"2001:DB8::0001", "2001:db8::1"},
		{"::ffff:198.51.100.7", "::ffff:198.51.100.7"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"256.1.1.1", ""},
		{"1.2.3", ""},
		{"1.2.3.0004", ""},
		{"1..2.3", ""},
		{"ec2.amazonaws.com", ""},
		{"AWS Internal", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := IP(tc.in); got != tc.want {
			t.Errorf("IP(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, s := range []string{"198.51.100.7", "2001:db8::1"} {
		if n := testing.AllocsPerRun(10, func() { IP(s) }); n != 0 {
			t.Errorf("IP(%q) of a canonical address allocates %v times", s, n)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // zero: not a time
	}{
		{"2024-03-05T10:00:00Z", time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)},
		{"2024-04-02T08:00:00.123456Z", time.Date(2024, 4, 2, 8, 0, 0, 123456000, time.UTC)},
		{"2024-03-05T12:00:00+02:00", time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)},
		{"2022-11-29 00:09:04.38", time.Date(2022, 11, 29, 0, 9, 4, 380000000, time.UTC)},
		{"2022-11-29 00:09:04", time.Date(2022, 11, 29, 0, 9, 4, 0, time.UTC)},
		{"2022-11-29 02:09:04+02:00", time.Date(2022, 11, 29, 0, 9, 4, 0, time.UTC)},
		{"2022-11-29T00:09:04.5", time.Date(2022, 11, 29, 0, 9, 4, 500000000, time.UTC)},
		{"29/11/2022", time.Time{}},
		{"2024-03-05", time.Time{}},
		{"2024-03-05_10:00:00Z", time.Time{}},
		{"2024-03-05 10:00:00 UTC", time.Time{}},
		{"", time.Time{}},
	}
	for _, tc := range tests {
		got, ok := ParseTime(tc.in)
		if ok != !tc.want.IsZero() || !got.Equal(tc.want) || ok && got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}
