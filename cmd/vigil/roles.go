package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/kafka"
)

// Defaults of the Kafka roles.
const (
	// roleBatch is the most messages a role fetches before it writes what
	// they caused and commits them.
	roleBatch = 500
	// roleLinger is how long a role waits for more messages after the
	// first of a batch before it processes the batch.
	roleLinger = 20 * time.Millisecond
)

// busFlags are the flags every Kafka role shares.
type busFlags struct {
	url       *string
	session   *time.Duration
	heartbeat *time.Duration
	rebalance *time.Duration
	verbose   *bool
}

func addBusFlags(fl *flag.FlagSet) busFlags {
	return busFlags{
		url:       fl.String("bus", "", "Kafka bus: kafka://host:9092[,host:9092...][?options] (see storage/kafka ParseURL); default: bus.url of --config"),
		session:   fl.Duration("session-timeout", kafka.DefaultSessionTimeout, "consumer group session timeout: how soon a dead member's partitions move"),
		heartbeat: fl.Duration("heartbeat", kafka.DefaultHeartbeatInterval, "consumer group heartbeat interval"),
		rebalance: fl.Duration("rebalance-timeout", kafka.DefaultRebalanceTimeout, "how long the group waits for members to rejoin in a rebalance"),
		verbose:   fl.Bool("v", false, "log at debug level, the bus's progress included (same as --log-level debug)"),
	}
}

// redactURL hides the password of a URL given on the command line.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return u
}

// fetchBatch fetches up to max messages: it blocks for the first, then
// takes what arrives within linger. Poison messages are sent to the dead
// letter topic and returned among the others (with a zero value) so that
// they are committed with them; poison reports which ones they are. The
// batch is returned with ctx's error once ctx ends.
func fetchBatch[T any](ctx context.Context, c *kafka.Consumer[T], dl *kafka.DeadLetter, group string,
	max int, linger time.Duration) (batch []storage.Message[T], poison map[int]bool, err error) {
	lctx, stop := context.WithCancel(ctx) // ends linger after the first message
	defer stop()
	for len(batch) < max {
		m, err := c.Fetch(lctx)
		var pe *kafka.PoisonError
		switch {
		case errors.As(err, &pe):
			if err := dl.Send(context.WithoutCancel(ctx), pe.Letter(group)); err != nil {
				return batch, poison, fmt.Errorf("dead letter: %w", err)
			}
			if poison == nil {
				poison = map[int]bool{}
			}
			poison[len(batch)] = true
		case err != nil && len(batch) > 0 && ctx.Err() == nil && errors.Is(err, context.Canceled):
			return batch, poison, nil
		case err != nil:
			return batch, poison, err
		}
		batch = append(batch, m)
		if len(batch) == 1 {
			t := time.AfterFunc(linger, stop)
			defer t.Stop()
		}
	}
	return batch, poison, nil
}

// writeKeyed writes vs to out, each keyed by key, and returns once out has
// them.
func writeKeyed[T any](ctx context.Context, out storage.Producer[T], vs []T, key func(T) string) error {
	if len(vs) == 0 {
		return nil
	}
	msgs := make([]storage.Message[T], len(vs))
	for i, v := range vs {
		msgs[i] = storage.Message[T]{Key: []byte(key(v)), Value: v}
	}
	return out.Write(ctx, msgs...)
}

// eventKey keys an event by its source, so that one source's records keep
// their order on the bus; alertKey keys an alert by its ID, so that the
// versions of one alert do.
func eventKey(ev *ingest.Event) string { return ev.Source }
func alertKey(a *detect.Alert) string  { return a.AlertID }

// commitBatch commits msgs; a revoked partition is not an error (its new
// holder reads the messages again).
func commitBatch[T any](ctx context.Context, c *kafka.Consumer[T], log *slog.Logger, msgs []storage.Message[T]) error {
	if len(msgs) == 0 {
		return nil
	}
	err := c.Commit(ctx, msgs...)
	if errors.Is(err, kafka.ErrRevoked) {
		log.Info("commit of a revoked partition skipped", "err", err)
		return nil
	}
	return err
}

// stages runs the functions until all return; the first error cancels the
// context of the others and is returned.
type stages struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func (s *stages) goStage(name string, f func() error) {
	s.wg.Go(func() {
		if err := f(); err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = fmt.Errorf("%s: %w", name, err)
				s.cancel()
			}
			s.mu.Unlock()
		}
	})
}

func (s *stages) wait() error {
	s.wg.Wait()
	return s.err
}

// interrupted reports whether err only says that ctx ended (an interrupt),
// which ends a role without failure.
func interrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kafka.ErrClosed))
}
