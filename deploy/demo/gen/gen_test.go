package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// logDirs are the generated directories under deploy/demo.
var logDirs = []string{"cloudtrail", "vpcflow", "k8s", "auditd"}

// listLogs returns the generated files under root, relative to it.
func listLogs(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, d := range logDirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() {
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				out = append(out, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}

// TestCommittedOutputIsCurrent regenerates the demo logs and checks that the
// committed files are exactly what the generator writes today.
func TestCommittedOutputIsCurrent(t *testing.T) {
	tmp := t.TempDir()
	if err := run(tmp); err != nil {
		t.Fatal(err)
	}
	want, got := listLogs(t, tmp), listLogs(t, "..")
	if !slices.Equal(want, got) {
		t.Fatalf("deploy/demo files differ from the generator's; run `go run ./deploy/demo/gen`\ngenerated: %v\ncommitted: %v", want, got)
	}
	for _, name := range want {
		a, err := os.ReadFile(filepath.Join(tmp, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is stale; run `go run ./deploy/demo/gen`", name)
		}
	}
}

// TestEncoding checks the kernel's quoting rules for audit values.
func TestEncoding(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"-D", `"-D"`},
		{"/tmp/.x/xmrig", `"/tmp/.x/xmrig"`},
		{"a b", "612062"},
		{`say "hi"`, "7361792022686922"},
		{"a\x00b", "610062"},
	}
	for _, tc := range tests {
		if got := enc(tc.in); got != tc.want {
			t.Errorf("enc(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
