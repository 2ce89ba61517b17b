package auditd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/corpus"
	"gopkg.in/yaml.v3"
)

// FuzzDecode feeds arbitrary bytes to the decoder with a tiny reorder window
// and open-event cap, and checks that it never fails, stays deterministic,
// and that every event is made of input lines.
func FuzzDecode(f *testing.F) {
	own, _ := filepath.Glob("testdata/*.log")
	for _, file := range own {
		addFileSeeds(f, file)
	}
	f.Add([]byte(lines(execSyscall, execExecve, execCwd, execPath0, execPath1, execTitle, execEOE)))
	f.Add([]byte("type=EXECVE msg=audit(1.1:1): argc=99999999 a0_len=3 a0[0]=41 a0[1]=\"b\" a0[5]=43\n"))
	f.Add([]byte("type=SOCKADDR msg=audit(1.1:1): saddr=0A00\ntype=SOCKADDR msg=audit(1.1:1): saddr=0100\n"))
	f.Add([]byte("type=USER_CMD msg=audit(1.1:2): msg='cmd=41 msg='x=y' \"unterminated\n"))
	dir := corpus.Dir(f)
	for _, pattern := range []string{"go-libaudit/testdata/*.log", "go-libaudit/auparse/testdata/*.log", "otrf-security-datasets/*.log"} {
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, file := range files {
			addFileSeeds(f, file)
		}
	}
	suites, _ := filepath.Glob(filepath.Join(dir, "go-libaudit/aucoalesce/testdata/*.yaml"))
	for _, file := range suites {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var suite struct {
			Tests map[string]string `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &suite); err != nil {
			f.Fatal(err)
		}
		for _, body := range suite.Tests {
			f.Add([]byte(body))
		}
	}
	d, err := New(Config{ReorderWindow: 4, MaxAge: 1e9, MaxOpen: 3, Limits: ingest.Limits{MaxRecordBytes: 4096}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		run := func() []string {
			var ids []string
			err := d.Decode(context.Background(), bytes.NewReader(in), "fuzz", ingest.Handler{Event: func(e *ingest.Event) error {
				if len(e.ID) != 32 || e.Type != ingest.TypeAuditd || len(e.Raw) == 0 {
					t.Fatalf("bad envelope: %+v", e)
				}
				typ, _ := e.Fields["type"].(string)
				if typ == "" || typ == "EOE" || len(e.Fields["types"].([]any)) == 0 {
					t.Fatalf("bad type %q / types %v", typ, e.Fields["types"])
				}
				if _, ok := e.Fields["sequence"].(int); !ok {
					t.Fatalf("sequence %#v", e.Fields["sequence"])
				}
				for _, l := range bytes.Split(e.Raw, []byte("\n")) {
					if !bytes.Contains(in, l) {
						t.Fatalf("raw line %q not in input", l)
					}
				}
				ids = append(ids, e.ID)
				return nil
			}})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			return ids
		}
		if a, b := run(), run(); strings.Join(a, ",") != strings.Join(b, ",") {
			t.Fatalf("not deterministic: %v vs %v", a, b)
		}
	})
}

// addFileSeeds adds a file as one input and each of its lines as another.
func addFileSeeds(f *testing.F, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, l := range bytes.Split(b, []byte("\n")) {
		if len(l) > 0 {
			f.Add(l)
		}
	}
}
