package clickhouse

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

type key struct{}

func TestGuard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithTimeout(context.WithValue(context.Background(), key{}, "v"), time.Minute)
		defer cancel()

		// Ends with the caller's context while the call runs.
		g, done := guard(parent)
		if g.Value(key{}) != "v" {
			t.Fatal("guarded context lost the caller's values")
		}
		if dl, ok := g.Deadline(); !ok || dl != time.Now().Add(time.Minute) {
			t.Fatalf("deadline %v %v, want the caller's", dl, ok)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !errors.Is(context.Cause(g), context.DeadlineExceeded) {
			t.Fatalf("guarded context not ended with the caller's: %v", context.Cause(g))
		}
		done()

		// Not ended when the caller's context ends after the call.
		parent2, cancel2 := context.WithCancel(context.Background())
		g2, done2 := guard(parent2)
		done2()
		cancel2()
		synctest.Wait()
		if g2.Err() != nil {
			t.Fatalf("guarded context ended after its call returned: %v", g2.Err())
		}
	})
}
