package kafka

import (
	"crypto/tls"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url     string
		want    Config // compared without TLS
		tls     bool
		wantErr string
	}{
		{url: "kafka://b1:9092", want: Config{Brokers: []string{"b1:9092"}}},
		{url: "kafka://b1,b2:9093/", want: Config{Brokers: []string{"b1:9092", "b2:9093"}}},
		{
			url: "kafka://vigil:p%40ss@b1?partitions=24&replication=3&client_id=detect-1&events=e&signals=s&alerts=a&deadletter=d",
			want: Config{
				Brokers: []string{"b1:9092"}, ClientID: "detect-1", Partitions: 24, ReplicationFactor: 3,
				SASL:   SASL{Mechanism: MechanismSCRAMSHA512, Username: "vigil", Password: "p@ss"},
				Topics: Topics{Events: "e", Signals: "s", Alerts: "a", DeadLetter: "d"},
			},
		},
		{url: "kafka://u:p@b1?sasl=plain", want: Config{Brokers: []string{"b1:9092"}, SASL: SASL{Mechanism: MechanismPLAIN, Username: "u", Password: "p"}}},
		{url: "kafka://b1?tls=true", want: Config{Brokers: []string{"b1:9092"}}, tls: true},
		{url: "kafka://b1?tls_server_name=kafka.internal", want: Config{Brokers: []string{"b1:9092"}}, tls: true},
		{url: "kafka://b1?tls=0", want: Config{Brokers: []string{"b1:9092"}}},
		{url: "memory://", wantErr: "scheme"},
		{url: "kafka://", wantErr: "empty broker"},
		{url: "kafka://b1,,b2", wantErr: "empty broker"},
		{url: "kafka://b1/topic", wantErr: "path"},
		{url: "kafka://b1?acks=1", wantErr: "unknown option"},
		{url: "kafka://b1?partitions=-2", wantErr: "not a count"},
		{url: "kafka://b1?tls=maybe", wantErr: "not a boolean"},
		{url: "kafka://b1?tls=false&tls_server_name=x", wantErr: "tls=false"},
		{url: "kafka://b1?tls_ca=/nonexistent/ca.pem", wantErr: "nonexistent"},
		{url: "kafka://u:secret@b1?sasl=GSSAPI", wantErr: "unknown SASL mechanism"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c, err := ParseURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("error reveals the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.TLS != nil) != tc.tls {
				t.Errorf("TLS %v, want %v", c.TLS != nil, tc.tls)
			}
			c.TLS = nil
			if !reflect.DeepEqual(c, tc.want) {
				t.Errorf("got %+v\nwant %+v", c, tc.want)
			}
		})
	}
}

func TestParseURLTLSCA(t *testing.T) {
	cert, _ := selfSigned(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := clusterConfig(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	url := "kafka://" + strings.Join(base.Brokers, ",") + "?tls_ca=" + ca + "&partitions=2"
	c, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureTopics(testContext(t), c); err != nil {
		t.Fatalf("topics over TLS with the URL's CA: %v", err)
	}
	if err := os.WriteFile(ca, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseURL(url); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Fatalf("CA file without certificates: %v", err)
	}
}
