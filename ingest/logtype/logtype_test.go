package logtype

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest"
)

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestPrepare(t *testing.T) {
	const trail = `{"Records":[{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1"}]}`
	const audit = "type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=59 success=yes\n"
	for _, tc := range []struct {
		name, in, typ string
		want          string
		err           error
	}{
		{"cloudtrail", trail, "", ingest.TypeCloudTrail, nil},
		{"gzipped cloudtrail", gz(trail), "", ingest.TypeCloudTrail, nil},
		{"auditd", audit, "", ingest.TypeAuditd, nil},
		{"blank", " \n\n", "", "", ErrEmpty},
		{"unknown", "hello world\n", "", "", ErrUnknownType},
		{"type given", "hello world\n", ingest.TypeVPCFlow, ingest.TypeVPCFlow, nil},
		{"broken gzip", "\x1f\x8bnot gzip", "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ, body, err := Prepare(strings.NewReader(tc.in), ingest.Limits{}, tc.typ)
			if tc.name == "broken gzip" {
				if err == nil {
					t.Fatal("a broken gzip header was accepted")
				}
				return
			}
			if !errors.Is(err, tc.err) || typ != tc.want {
				t.Fatalf("got (%q, %v), want (%q, %v)", typ, err, tc.want, tc.err)
			}
			if err != nil {
				return
			}
			all, err := io.ReadAll(body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "gzipped cloudtrail" && string(all) != trail || tc.name != "gzipped cloudtrail" && string(all) != tc.in {
				t.Fatalf("body %q: the whole stream must come back, head included", all)
			}
		})
	}
}
