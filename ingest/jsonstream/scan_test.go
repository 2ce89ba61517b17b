package jsonstream

import (
	"bytes"
	"strings"
	"testing"
)

func TestPlainEnd(t *testing.T) {
	naive := func(buf []byte, i int) int {
		if j := bytes.IndexAny(buf[i:], "\"\\"); j >= 0 {
			return i + j
		}
		return len(buf)
	}
	tests := []string{
		``, `"`, `\`, `abc`, `abcdefgh"`, `abcdefghi\`, `abcdefg"h\`,
		"\x80\xff\x21\x23\x5b\x5d\x00\x01\"", strings.Repeat("é", 20) + `"`,
		strings.Repeat("x", 31) + `\"` + strings.Repeat("y", 9),
	}
	for _, s := range tests {
		buf := []byte(s)
		for i := 0; i <= len(buf); i++ {
			if got, want := plainEnd(buf, i), naive(buf, i); got != want {
				t.Errorf("plainEnd(%q, %d) = %d, want %d", s, i, got, want)
			}
		}
	}
}

func TestCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{"{\n  \"a\" : [ 1 ,\t2 ],\r\n  \"b\": \"x y\\\" z\"\n}", `{"a":[1,2],"b":"x y\" z"}`},
		{`{"a":"\\"}`, `{"a":"\\"}`},
		{` {"a":"\\" , "b" :1} `, `{"a":"\\","b":1}`},
	}
	for _, tc := range tests {
		in := []byte(tc.in)
		got := compact(in)
		if string(got) != tc.want {
			t.Errorf("compact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if tc.in == tc.want && &got[0] != &in[0] {
			t.Errorf("compact(%q) copied a compact input", tc.in)
		}
	}
}
