package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// store is a fake flush target that records every call.
type store struct {
	mu      sync.Mutex
	calls   [][]int // rows of every call, successful or not
	written []int
	// fail decides the outcome of a call; nil means success.
	fail func(call int, rows []int) error
}

func (s *store) flush(_ context.Context, rows []int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, slices.Clone(rows))
	if s.fail != nil {
		if err := s.fail(len(s.calls), rows); err != nil {
			return err
		}
	}
	s.written = append(s.written, rows...)
	return nil
}

func (s *store) snapshot() (calls [][]int, written []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls), slices.Clone(s.written)
}

func seq(from, to int) []int {
	var r []int
	for i := from; i < to; i++ {
		r = append(r, i)
	}
	return r
}

func newWriter(t *testing.T, cfg Config[int], s *store) *Writer[int] {
	t.Helper()
	w, err := New(cfg, s.flush)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config[int]
		ok   bool
	}{
		{"zero value", Config[int]{}, true},
		{"all set", Config[int]{Size: 5, Interval: time.Millisecond, Attempts: 1, MinBackoff: time.Millisecond, MaxBackoff: time.Second}, true},
		{"negative size", Config[int]{Size: -1}, false},
		{"negative interval", Config[int]{Interval: -time.Second}, false},
		{"negative attempts", Config[int]{Attempts: -1}, false},
		{"negative backoff", Config[int]{MinBackoff: -1}, false},
		{"min above max", Config[int]{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, func(context.Context, []int) error { return nil })
			if (err == nil) != tt.ok {
				t.Fatalf("New error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := New[int](Config[int]{}, nil); err == nil {
		t.Fatal("New accepted a nil flush function")
	}
}

func TestSizeFlush(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		adds  [][]int // rows per Add call
		calls [][]int // batches written before Flush
	}{
		{"below size", 4, [][]int{{0, 1, 2}}, nil},
		{"exactly size", 3, [][]int{{0, 1, 2}}, [][]int{{0, 1, 2}}},
		{"one add spans batches", 2, [][]int{{0, 1, 2, 3, 4}}, [][]int{{0, 1}, {2, 3}}},
		{"adds fill a batch", 3, [][]int{{0}, {1}, {2, 3}}, [][]int{{0, 1, 2}}},
		{"size one", 1, [][]int{{0, 1}}, [][]int{{0}, {1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &store{}
				w := newWriter(t, Config[int]{Size: tt.size}, s)
				var all []int
				for _, rows := range tt.adds {
					if err := w.Add(t.Context(), rows...); err != nil {
						t.Fatal(err)
					}
					all = append(all, rows...)
				}
				if calls, _ := s.snapshot(); !equalCalls(calls, tt.calls) {
					t.Fatalf("calls before Flush = %v, want %v", calls, tt.calls)
				}
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
				if _, written := s.snapshot(); !slices.Equal(written, all) {
					t.Fatalf("written = %v, want %v", written, all)
				}
			})
		})
	}
}

func equalCalls(a, b [][]int) bool {
	return slices.EqualFunc(a, b, func(x, y []int) bool { return slices.Equal(x, y) })
}

func TestIntervalFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{}
		w := newWriter(t, Config[int]{Interval: 200 * time.Millisecond}, s)
		start := time.Now()
		if err := w.Add(t.Context(), 1, 2); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
		if err := w.Add(t.Context(), 3); err != nil {
			t.Fatal(err)
		}
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if calls, _ := s.snapshot(); len(calls) != 0 {
			t.Fatalf("flushed before the interval of the oldest row: %v", calls)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		calls, _ := s.snapshot()
		if want := [][]int{{1, 2, 3}}; !equalCalls(calls, want) {
			t.Fatalf("calls = %v, want %v", calls, want)
		}
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Fatalf("flushed after %v, want 200ms", got)
		}
		// The next row starts a new interval.
		if err := w.Add(t.Context(), 4); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		if calls, _ := s.snapshot(); len(calls) != 2 || !slices.Equal(calls[1], []int{4}) {
			t.Fatalf("calls = %v, want a second batch [4]", calls)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

var errTransient = errors.New("connection reset")

func TestRetrySameRows(t *testing.T) {
	tests := []struct {
		name     string
		failures int // transient failures before success
		attempts int
		wantErr  bool
		wantWait time.Duration // total backoff
	}{
		{"no failure", 0, 3, false, 0},
		{"one failure", 1, 3, false, 100 * time.Millisecond},
		{"two failures", 2, 3, false, 300 * time.Millisecond},
		{"backoff is capped", 4, 5, false, 100*time.Millisecond + 200*time.Millisecond + 250*time.Millisecond + 250*time.Millisecond},
		{"attempts exhausted", 3, 3, true, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &store{fail: func(call int, _ []int) error {
					if call <= tt.failures {
						return errTransient
					}
					return nil
				}}
				w := newWriter(t, Config[int]{Attempts: tt.attempts, MaxBackoff: 250 * time.Millisecond}, s)
				if err := w.Add(t.Context(), 7, 8, 9); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err := w.Flush(t.Context())
				if (err != nil) != tt.wantErr {
					t.Fatalf("Flush error = %v, want error %v", err, tt.wantErr)
				}
				if tt.wantErr && !errors.Is(err, errTransient) {
					t.Fatalf("Flush error = %v, want it to wrap %v", err, errTransient)
				}
				if got := time.Since(start); got != tt.wantWait {
					t.Fatalf("waited %v, want %v", got, tt.wantWait)
				}
				calls, _ := s.snapshot()
				for i, c := range calls {
					if !slices.Equal(c, []int{7, 8, 9}) {
						t.Fatalf("call %d rows = %v, want the same rows every time", i, c)
					}
				}
				if tt.wantErr {
					// The Writer fails from then on.
					if err := w.Add(t.Context(), 1); !errors.Is(err, errTransient) {
						t.Fatalf("Add after a failed batch = %v, want the batch error", err)
					}
					if err := w.Close(t.Context()); !errors.Is(err, errTransient) {
						t.Fatalf("Close after a failed batch = %v, want the batch error", err)
					}
					return
				}
				if got := w.Stats(); got.Retries != int64(tt.failures) || got.Rows != 3 {
					t.Fatalf("stats = %+v", got)
				}
				if err := w.Close(t.Context()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// rejecting returns a fail function that fails permanently for any batch
// holding a bad row, and transiently the first time it sees each batch in
// flaky.
func rejecting(bad map[int]bool, flaky map[string]bool) func(int, []int) error {
	seen := map[string]bool{}
	return func(_ int, rows []int) error {
		key := fmt.Sprint(rows)
		if flaky[key] && !seen[key] {
			seen[key] = true
			return errTransient
		}
		for _, r := range rows {
			if bad[r] {
				return Permanent(fmt.Errorf("row %d: cannot parse", r))
			}
		}
		return nil
	}
}

// checkIsolation writes rows 0..n-1 of which bad are rejected, and checks
// that exactly the bad rows are dead-lettered, every other row is written
// exactly once, every call got a contiguous run of rows, and the number of
// calls stays within the bisection bound.
func checkIsolation(t *testing.T, n int, bad []int, flaky map[string]bool) {
	t.Helper()
	badSet := map[int]bool{}
	for _, b := range bad {
		badSet[b] = true
	}
	s := &store{fail: rejecting(badSet, flaky)}
	var dead []int
	w := newWriter(t, Config[int]{Size: n, DeadLetter: func(row int, err error) {
		if !IsPermanent(err) {
			t.Errorf("row %d dead-lettered with %v, not a permanent error", row, err)
		}
		dead = append(dead, row)
	}}, s)
	if err := w.Add(t.Context(), seq(0, n)...); err != nil {
		t.Fatalf("n=%d bad=%v: Add: %v", n, bad, err)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatalf("n=%d bad=%v: Close: %v", n, bad, err)
	}
	calls, written := s.snapshot()
	slices.Sort(dead)
	wantDead := slices.Sorted(slices.Values(bad))
	if !slices.Equal(dead, wantDead) {
		t.Fatalf("n=%d bad=%v: dead-lettered %v", n, bad, dead)
	}
	var wantWritten []int
	for i := range n {
		if !badSet[i] {
			wantWritten = append(wantWritten, i)
		}
	}
	slices.Sort(written)
	if !slices.Equal(written, wantWritten) {
		t.Fatalf("n=%d bad=%v: written %v, want %v", n, bad, written, wantWritten)
	}
	for _, c := range calls {
		for i := 1; i < len(c); i++ {
			if c[i] != c[i-1]+1 {
				t.Fatalf("n=%d bad=%v: call with non-contiguous rows %v", n, bad, c)
			}
		}
	}
	// Each bad row costs at most two calls per level of the bisection tree.
	depth := 0
	for 1<<depth < n {
		depth++
	}
	if limit := 1 + 2*len(bad)*depth + len(flaky); len(calls) > limit {
		t.Fatalf("n=%d bad=%v: %d flush calls, want at most %d", n, bad, len(calls), limit)
	}
	st := w.Stats()
	if st.DeadLettered != int64(len(bad)) || st.Rows != int64(n-len(bad)) {
		t.Fatalf("n=%d bad=%v: stats %+v", n, bad, st)
	}
}

// TestBisectExhaustive isolates every subset of bad rows in batches of up
// to 10 rows.
func TestBisectExhaustive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for n := 1; n <= 10; n++ {
			for mask := range 1 << n {
				var bad []int
				for i := range n {
					if mask&(1<<i) != 0 {
						bad = append(bad, i)
					}
				}
				checkIsolation(t, n, bad, nil)
			}
		}
	})
}

func TestBisectLarge(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		bad   []int
		flaky map[string]bool
	}{
		{"first row", 10000, []int{0}, nil},
		{"last row", 10000, []int{9999}, nil},
		{"neighbours across the middle", 10000, []int{4999, 5000}, nil},
		{"scattered", 10000, []int{3, 1024, 7777, 9998}, nil},
		{"odd size", 9973, []int{4986, 4987}, nil},
		{"transient failure of a half", 8, []int{1}, map[string]bool{"[4 5 6 7]": true, "[0 1]": true}},
		{"transient failure of the whole batch", 8, []int{6}, map[string]bool{"[0 1 2 3 4 5 6 7]": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { checkIsolation(t, tt.n, tt.bad, tt.flaky) })
		})
	}
}

func TestPermanentWithoutDeadLetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{fail: rejecting(map[int]bool{2: true}, nil)}
		w := newWriter(t, Config[int]{}, s)
		if err := w.Add(t.Context(), 1, 2, 3); err != nil {
			t.Fatal(err)
		}
		err := w.Flush(t.Context())
		if !IsPermanent(err) {
			t.Fatalf("Flush = %v, want the permanent error", err)
		}
		if calls, _ := s.snapshot(); len(calls) != 1 {
			t.Fatalf("%d calls, want one: permanent errors are not retried", len(calls))
		}
	})
}

func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		var got [][]int
		w, err := New(Config[int]{Size: 2}, func(_ context.Context, rows []int) error {
			<-release
			mu.Lock()
			got = append(got, slices.Clone(rows))
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var addDone, secondDone bool
		go func() {
			_ = w.Add(t.Context(), 1, 2) // fills the buffer: writes and blocks
			mu.Lock()
			addDone = true
			mu.Unlock()
		}()
		synctest.Wait()
		go func() {
			_ = w.Add(t.Context(), 3, 4) // fills the next buffer: waits for the first batch
			mu.Lock()
			secondDone = true
			mu.Unlock()
		}()
		synctest.Wait()
		mu.Lock()
		if addDone || secondDone {
			t.Fatal("Add returned while the store was blocked")
		}
		mu.Unlock()
		close(release)
		synctest.Wait()
		if !addDone || !secondDone {
			t.Fatal("Add still blocked after the store returned")
		}
		if want := [][]int{{1, 2}, {3, 4}}; !equalCalls(got, want) {
			t.Fatalf("batches = %v, want %v", got, want)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{fail: func(int, []int) error { return errTransient }}
		w := newWriter(t, Config[int]{MinBackoff: time.Second}, s)
		if err := w.Add(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		err := w.Flush(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errTransient) {
			t.Fatalf("Flush = %v, want the deadline and the last store error", err)
		}
		if calls, _ := s.snapshot(); len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
	})
}

func TestCloseStopsWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{}
		w := newWriter(t, Config[int]{}, s)
		if err := w.Add(t.Context(), 1, 2); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, written := s.snapshot(); !slices.Equal(written, []int{1, 2}) {
			t.Fatalf("written = %v after Close", written)
		}
		if err := w.Add(t.Context(), 3); !errors.Is(err, ErrClosed) {
			t.Fatalf("Add after Close = %v", err)
		}
		if err := w.Flush(t.Context()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Flush after Close = %v", err)
		}
		if err := w.Close(t.Context()); err != nil {
			t.Fatalf("second Close = %v", err)
		}
		// The interval timer of the flushed rows does not fire a stray batch.
		time.Sleep(2 * time.Second)
		if calls, _ := s.snapshot(); len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
	})
}

func TestBackgroundFailureIsReported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{fail: func(int, []int) error { return errTransient }}
		w := newWriter(t, Config[int]{Attempts: 1}, s)
		if err := w.Add(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if err := w.Flush(t.Context()); !errors.Is(err, errTransient) {
			t.Fatalf("Flush after a failed interval flush = %v", err)
		}
	})
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad")
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{base, false},
		{Permanent(base), true},
		{fmt.Errorf("insert: %w", Permanent(base)), true},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Error("Permanent does not wrap its error")
	}
}

func BenchmarkAdd(b *testing.B) {
	w, err := New(Config[int]{}, func(context.Context, []int) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if err := w.Add(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
}
