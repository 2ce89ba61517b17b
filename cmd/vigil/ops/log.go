package ops

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// NewLogger returns a logger writing to w in format "text" or "json" at
// level "debug", "info", "warn" or "error", with repeated warnings and
// errors rate-limited (see RateLimit); suppressed is incremented for each
// record dropped and may be nil.
func NewLogger(w io.Writer, format, level string, suppressed func()) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	return slog.New(RateLimit(h, RateLimitConfig{Suppressed: suppressed})), nil
}

// RateLimitConfig configures RateLimit. The zero value is valid.
type RateLimitConfig struct {
	// Level is the lowest level limited; records below it always pass.
	// Default slog.LevelWarn (the zero value of slog.Level is Info, so
	// Info cannot be chosen here).
	Level slog.Level
	// Burst is how many records with the same level and message pass per
	// Interval. Default 5.
	Burst int
	// Interval is the period over which Burst applies. Default 1m.
	Interval time.Duration
	// MaxKeys bounds the messages tracked; when reached, tracking starts
	// over. Default 1000.
	MaxKeys int
	// Suppressed is called for each record dropped. Default: nothing.
	Suppressed func()
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// RateLimit wraps h so that records at or above c.Level with the same
// level and message pass at most c.Burst times per c.Interval; the rest are
// dropped and counted, and the first record passed after a drop carries
// the number dropped meanwhile in the attribute "suppressed". A stream of
// one repeated error (a store that is down, a bad rule failing on every
// event) then costs a few lines a minute instead of flooding the log.
func RateLimit(h slog.Handler, c RateLimitConfig) slog.Handler {
	if c.Level == 0 {
		c.Level = slog.LevelWarn
	}
	if c.Burst <= 0 {
		c.Burst = 5
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 1000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Suppressed == nil {
		c.Suppressed = func() {}
	}
	return &limiter{next: h, state: &limitState{c: c, keys: map[limitKey]*window{}}}
}

type limitKey struct {
	level slog.Level
	msg   string
}

type window struct {
	start      time.Time
	passed     int
	suppressed int
}

type limitState struct {
	c    RateLimitConfig
	mu   sync.Mutex
	keys map[limitKey]*window
}

// allow reports whether a record passes and how many were dropped since
// the last one that passed.
func (s *limitState) allow(k limitKey, t time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.keys[k]
	if w == nil {
		if len(s.keys) >= s.c.MaxKeys {
			clear(s.keys)
		}
		w = &window{start: t}
		s.keys[k] = w
	}
	if t.Sub(w.start) >= s.c.Interval {
		w.start, w.passed = t, 0
	}
	if w.passed >= s.c.Burst {
		w.suppressed++
		return false, 0
	}
	w.passed++
	n := w.suppressed
	w.suppressed = 0
	return true, n
}

type limiter struct {
	next  slog.Handler
	state *limitState
}

func (l *limiter) Enabled(ctx context.Context, lv slog.Level) bool { return l.next.Enabled(ctx, lv) }

func (l *limiter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < l.state.c.Level {
		return l.next.Handle(ctx, r)
	}
	ok, dropped := l.state.allow(limitKey{r.Level, r.Message}, l.state.c.Now())
	if !ok {
		l.state.c.Suppressed()
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return l.next.Handle(ctx, r)
}

func (l *limiter) WithAttrs(as []slog.Attr) slog.Handler {
	return &limiter{next: l.next.WithAttrs(as), state: l.state}
}

func (l *limiter) WithGroup(name string) slog.Handler {
	return &limiter{next: l.next.WithGroup(name), state: l.state}
}
