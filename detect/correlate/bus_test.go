package correlate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/memory"
)

// TestBusCrashRestore runs the correlator as a stage on the in-process
// bus: it reads the signals topic, and every few messages delivers the
// alerts it opened, snapshots its state and commits. It crashes at every
// position in turn (the consumer leaves without committing); a new member
// restores the last snapshot, is handed the uncommitted signals again, and
// finishes. Every scenario of the attack must be delivered exactly once.
func TestBusCrashRestore(t *testing.T) {
	ctx := context.Background()
	rs := loadRules(t, allRules...)
	p := newPipeline(t, rs, Config{})
	for _, ev := range attack() {
		p.m.Match(ev)
	}
	signals := p.signals
	const batch = 4
	for crash := 1; crash < len(signals); crash++ {
		bus, err := memory.New(memory.Config{})
		if err != nil {
			t.Fatal(err)
		}
		prod, err := memory.NewProducer[detect.Signal](bus, storage.TopicSignals)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range signals {
			if err := prod.Write(ctx, storage.Message[detect.Signal]{Key: []byte(s.RuleID + "\x00" + s.GroupKey), Value: s}); err != nil {
				t.Fatal(err)
			}
		}
		prod.Close()

		delivered := map[string]int{}
		var snap []byte
		// stage runs one member until the topic ends or it has read stop
		// messages (then it crashes: no delivery, no snapshot, no commit).
		stage := func(stop int) {
			cons, err := memory.NewConsumer[detect.Signal](bus, storage.TopicSignals, "correlate")
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			c, err := New(rs, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if snap != nil {
				if err := c.Restore(bytes.NewReader(snap)); err != nil {
					t.Fatal(err)
				}
			}
			var pending []storage.Message[detect.Signal]
			var opened []*detect.Alert
			commit := func() {
				for _, a := range opened {
					delivered[a.AlertID]++
				}
				opened = nil
				var buf bytes.Buffer
				if err := c.Snapshot(&buf); err != nil {
					t.Fatal(err)
				}
				snap = buf.Bytes()
				if len(pending) > 0 {
					if err := cons.Commit(ctx, pending...); err != nil {
						t.Fatal(err)
					}
				}
				pending = nil
			}
			for read := 0; stop < 0 || read < stop; read++ {
				msg, err := cons.Fetch(ctx)
				if errors.Is(err, io.EOF) {
					o, _ := c.Flush()
					opened = append(opened, o...)
					commit()
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Add(msg.Value); err != nil {
					t.Fatal(err)
				}
				o, _ := c.Advance(msg.Value.Time)
				opened = append(opened, o...)
				pending = append(pending, msg)
				if len(pending) == batch {
					commit()
				}
			}
		}
		stage(crash)
		stage(-1)
		if len(delivered) != 5 {
			t.Fatalf("crash after %d signals: %d alerts delivered: %v", crash, len(delivered), delivered)
		}
		for id, n := range delivered {
			if n != 1 {
				t.Errorf("crash after %d signals: alert %s delivered %d times", crash, id, n)
			}
		}
	}
}
