package checkpoint

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "ckpt")
	d, err := NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  string
		save [][]byte
		want []byte
	}{
		{"never saved", "s3://b/none", nil, nil},
		{"saved once", "s3://b/p", [][]byte{[]byte(`{"a":1}`)}, []byte(`{"a":1}`)},
		{"replaced", "cloudwatch://g", [][]byte{[]byte("one"), []byte("two")}, []byte("two")},
		{"key with odd characters", "cloudwatch:///aws/eks/x/cluster?stream_prefix=kube-apiserver-audit-", [][]byte{[]byte("v")}, []byte("v")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range tc.save {
				if err := d.Save(ctx, tc.key, v); err != nil {
					t.Fatal(err)
				}
			}
			got, err := d.Load(ctx, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("Load = %q, want %q", got, tc.want)
			}
		})
	}
	// A second store on the same directory sees what the first saved, and no
	// temporary file is left behind.
	d2, err := NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := d2.Load(ctx, "cloudwatch://g"); string(got) != "two" {
		t.Errorf("reopened Load = %q", got)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".ckpt" {
			t.Errorf("leftover file %s", e.Name())
		}
	}
}

func TestDirConcurrentSaves(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	vals := []string{"aaaa", "bbbb", "cccc", "dddd"}
	for _, v := range vals {
		wg.Go(func() {
			for range 20 {
				if err := d.Save(ctx, "k", []byte(v)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := d.Load(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, v := range vals {
		ok = ok || string(got) == v
	}
	if !ok {
		t.Errorf("Load = %q, want one whole saved value", got)
	}
}

func TestNewDirEmpty(t *testing.T) {
	if _, err := NewDir(""); err == nil {
		t.Error("NewDir(\"\") succeeded")
	}
}

func TestDirCanceled(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Save(ctx, "k", []byte("v")); err == nil {
		t.Error("Save with a canceled context succeeded")
	}
	if _, err := d.Load(ctx, "k"); err == nil {
		t.Error("Load with a canceled context succeeded")
	}
}
