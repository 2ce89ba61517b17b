package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// TestDetectRestartKeepsFirstSeen: the correlator saves its state when the
// detect role stops and restores it when it starts again, so a first_seen
// rule does not learn again after a restart: a region learned before it
// raises no alert after it, a new region does. Rebuilding by replay alone
// would forget the region learned first (it lies before the replay's
// start) and alert on it.
func TestDetectRestartKeepsFirstSeen(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	bus := "kafka://" + cl.ListenAddrs()[0] + "?partitions=2"
	rules := writeRule(t, `id: region-first
title: Region used for the first time
severity: low
log_types: [cloudtrail]
when: awsRegion != nil
group_by: [userIdentity.arn]
correlate: {type: first_seen, field: awsRegion, learn: 1m, forget: 30d}
summary: '{{ userIdentity.arn }} in {{ awsRegion }}'
`)
	path := writeConfig(t, "bus:\n  url: "+bus+"\nrules:\n  paths: ["+rules+"]\nlisten: 127.0.0.1:0\n")
	args := []string{"--config", path, "--lateness", "1s", "--session-timeout", "1s", "--heartbeat", "100ms", "-v"}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cfg, err := kafka.ParseURL(bus)
	if err != nil {
		t.Fatal(err)
	}
	events, err := kafka.NewProducer(cfg, storage.TopicEvents, kafka.EventCodec{})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	// Event times an hour ahead of the clock: a rebuild by replay starts
	// at the first signal written at or after the last one's event time
	// minus Span, so it covers none of the first run's signals, as it
	// would not cover a value learned days before in production.
	base := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	n := 0
	send := func(at time.Duration, regions ...string) {
		t.Helper()
		var msgs []storage.Message[*ingest.Event]
		for _, region := range regions {
			n++
			ev := &ingest.Event{ID: "ev-" + region + "-" + at.String(), Type: "cloudtrail", Time: base.Add(at), Source: "test://restart",
				Fields: map[string]any{"awsRegion": region, "eventName": "DescribeInstances",
					"userIdentity": map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"}}}
			msgs = append(msgs, storage.Message[*ingest.Event]{Key: []byte(ev.Source), Value: ev})
			at += time.Second
		}
		if err := events.Write(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}

	// First run: both regions are learned, the second one long after the
	// first (so a replay of the last signals before the restart would not
	// reach the first).
	base1, stderr1, done1, stop1 := startRole(t, ctx, runDetect, args...)
	waitReady(t, base1, stderr1)
	send(0, "eu-west-1")
	send(40*time.Second, "us-east-1")
	pollUntil(t, "both signals correlated", func() bool {
		_, body := httpGet(t, base1+"/metrics")
		return scrapedValue(body, `vigil_correlate_signals_total{rule="region-first"}`) == 2
	}, stderr1)
	stop1()
	if err := <-done1; err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr1.String())
	}
	if !strings.Contains(stderr1.String(), "correlation state snapshot saved") {
		t.Errorf("no snapshot saved at the stop:\n%s", stderr1.String())
	}

	// Second run, after the learning period: the learned region is known,
	// the new one alerts. The last event moves the watermark past both.
	base2, stderr2, done2, stop2 := startRole(t, ctx, runDetect, args...)
	waitReady(t, base2, stderr2)
	send(5*time.Minute, "eu-west-1", "ap-south-1")
	send(10*time.Minute, "us-east-1")

	alerts, err := kafka.NewConsumer(cfg, kafka.Subscription[*detect.Alert]{Topic: storage.TopicAlerts, Group: "test", Codec: alertCodec})
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	for {
		m, err := alerts.Fetch(fctx)
		if err != nil {
			t.Fatalf("no alert for the new region: %v\n%s", err, stderr2.String())
		}
		if m.Value.RuleID != "region-first" {
			continue
		}
		if !strings.Contains(m.Value.Summary, "ap-south-1") {
			t.Fatalf("alert after the restart for a region learned before it: %s\n%s", m.Value.Summary, stderr2.String())
		}
		break
	}
	// The known region's signal is correlated before the new one's (event
	// time order on one partition), so by now it would have alerted.
	_, body := httpGet(t, base2+"/metrics")
	if got := scrapedValue(body, `vigil_detect_alerts_total{rule="region-first",severity="low"}`); got != 1 {
		t.Errorf("%v first_seen alerts after the restart, want 1 (the new region's)\n%s", got, stderr2.String())
	}
	if got := scrapedValue(body, `vigil_correlate_snapshots_total{op="restore",result="ok"}`); got < 1 {
		t.Errorf("%v snapshots restored, want at least 1\n%s", got, stderr2.String())
	}
	if !strings.Contains(stderr2.String(), "correlation state snapshot restored") {
		t.Errorf("no restore logged:\n%s", stderr2.String())
	}
	stop2()
	if err := <-done2; err != nil {
		t.Errorf("second run: %v\n%s", err, stderr2.String())
	}
}
