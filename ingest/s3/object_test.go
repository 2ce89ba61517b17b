package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/ingest/logtype"
)

// stubObjects serves fixed object bodies; a body cut by failAfter bytes
// fails like a dropped connection.
type stubObjects struct {
	bodies    map[string][]byte
	failAfter int
}

func (s stubObjects) GetObject(_ context.Context, in *awss3.GetObjectInput, _ ...func(*awss3.Options)) (*awss3.GetObjectOutput, error) {
	b, ok := s.bodies[*in.Key]
	if !ok {
		return nil, &types.NoSuchKey{}
	}
	var r io.Reader = bytes.NewReader(b)
	if s.failAfter > 0 {
		r = io.MultiReader(io.LimitReader(r, int64(s.failAfter)), errReader{})
	}
	return &awss3.GetObjectOutput{Body: io.NopCloser(r)}, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

func readObject(t testing.TB, s stubObjects, key string) (ids []string, bad []*ingest.DecodeError, err error) {
	decs, derr := logtype.Decoders(logtype.Config{Limits: testLimits})
	if derr != nil {
		t.Fatal(derr)
	}
	r := &ObjectReader{Client: s, Decoder: decs[ingest.TypeCloudTrail], Limits: testLimits}
	err = r.Read(context.Background(), "b", key, ingest.Handler{
		Event: func(e *ingest.Event) error { ids = append(ids, e.ID); return nil },
		Bad:   func(e *ingest.DecodeError) { bad = append(bad, e) },
	})
	return ids, bad, err
}

func TestObjectReader(t *testing.T) {
	good, _ := ctFile("g", 3, "2026-03-14T09:00:00Z")
	corrupt := gz(good)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC: every record decodes, the end fails
	tests := []struct {
		name    string
		body    []byte
		ids     int
		bad     error // reported, Read returns nil
		badText string
	}{
		{"plain", good, 3, nil, ""},
		{"gzip", gz(good), 3, nil, ""},
		{"checksum mismatch", corrupt, 3, nil, "checksum"},
		{"not gzip after the magic", []byte{0x1f, 0x8b, 0, 0}, 0, nil, "gzip"},
		{"bomb", bomb(), 0, ingest.ErrDecompressedTooLarge, ""},
		{"truncated gzip", gz(good)[:len(gz(good))-10], 3, nil, "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, bad, err := readObject(t, stubObjects{bodies: map[string][]byte{"k": tc.body}}, "k")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(ids) != tc.ids {
				t.Errorf("%d events, want %d", len(ids), tc.ids)
			}
			wantBad := tc.bad != nil || tc.badText != ""
			if wantBad != (len(bad) > 0) {
				t.Fatalf("reports %v", bad)
			}
			if !wantBad {
				return
			}
			// The decoder may report the record cut by the damage first;
			// the damage itself comes last.
			last := bad[len(bad)-1]
			if last.Source != "s3://b/k" || (tc.bad != nil && !errors.Is(last, tc.bad)) ||
				!strings.Contains(strings.ToLower(last.Error()), strings.ToLower(tc.badText)) {
				t.Errorf("report %v", last)
			}
		})
	}
}

func TestObjectReaderFailures(t *testing.T) {
	// A vanished object is reported and skipped.
	_, bad, err := readObject(t, stubObjects{bodies: map[string][]byte{}}, "gone")
	if err != nil || len(bad) != 1 || bad[0].Source != "s3://b/gone" {
		t.Errorf("missing object: err %v, reports %v", err, bad)
	}
	// A dropped connection is an error to retry, not damage to report.
	body, _ := ctFile("g", 50, "2026-03-14T09:00:00Z")
	_, bad, err = readObject(t, stubObjects{bodies: map[string][]byte{"k": gz(body)}, failAfter: 100}, "k")
	if err == nil || !strings.Contains(err.Error(), "connection reset") || len(bad) != 0 {
		t.Errorf("dropped connection: err %v, reports %v", err, bad)
	}
}

// FuzzObjectReader feeds arbitrary object bodies, plain and gzipped: the
// reader never fails on content, only reports it.
func FuzzObjectReader(f *testing.F) {
	good, _ := ctFile("g", 2, "2026-03-14T09:00:00Z")
	f.Add(good)
	f.Add(gz(good))
	f.Add([]byte(`{"Records":[{"eventID":"x"`))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, b := range [][]byte{body, gz(body)} {
			if _, _, err := readObject(t, stubObjects{bodies: map[string][]byte{"k": b}}, "k"); err != nil {
				t.Fatalf("Read failed on content: %v", err)
			}
		}
	})
}
