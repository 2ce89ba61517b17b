package sqs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		file string
		want []Object
		err  bool
	}{
		{"s3-event.json", []Object{{Bucket: "trail-logs", Key: "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/14/a b.json.gz", Size: 1234, Region: "eu-west-1"}}, false},
		{"sns-wrapped.json", []Object{{Bucket: "trail-logs", Key: "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/14/x.json.gz", Size: 99, Region: "eu-west-1"}}, false},
		{"eventbridge.json", []Object{{Bucket: "flow-logs", Key: "AWSLogs/111122223333/vpcflowlogs/eu-west-1/2026/03/14/f.log.gz", Size: 4321, Region: "eu-west-1"}}, false},
		{"test-event.json", nil, false},
		{"sns-test-event.json", nil, false},
		{"s3-delete.json", nil, false},
		{"eventbridge-deleted.json", nil, false},
		{"not-json.txt", nil, true},
		{"unrelated.json", nil, true},
		{"bad-key.json", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(body)
			if tc.err {
				if !errors.Is(err, ErrNotNotification) {
					t.Fatalf("err = %v, want ErrNotNotification", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, err := Parse(body)
		if err != nil && objs != nil {
			t.Errorf("objects %v with error %v", objs, err)
		}
		for _, o := range objs {
			if o.Bucket == "" || o.Key == "" {
				t.Errorf("object without bucket or key: %+v", o)
			}
		}
	})
}
