package s3

import (
	"context"
	"slices"
	"testing"
)

func TestLedger(t *testing.T) {
	ctx := context.Background()
	var applied []string
	commits := 0
	l := NewLedger(func(context.Context) error { commits++; return nil })
	change := func(name string) func(context.Context) error {
		return func(context.Context) error { applied = append(applied, name); return nil }
	}
	// Nothing outstanding: a change applies at once.
	if err := l.Do(ctx, change("a")); err != nil {
		t.Fatal(err)
	}
	ack1 := l.Emit()
	ack2 := l.Emit()
	_ = l.Do(ctx, change("b")) // after batch 2
	ack3 := l.Emit()
	_ = l.Do(ctx, change("c")) // after batch 3
	steps := []struct {
		ack  func(context.Context) error
		want []string
	}{
		{ack1, []string{"a"}},
		{ack2, []string{"a", "b"}},
		{ack3, []string{"a", "b", "c"}},
	}
	for i, st := range steps {
		if err := st.ack(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(applied, st.want) {
			t.Errorf("after ack %d applied %v, want %v", i+1, applied, st.want)
		}
	}
	if commits != 3 {
		t.Errorf("%d commits, want one per applying step (a, b, c)", commits)
	}
	// Everything acknowledged again: the next change applies at once.
	_ = l.Do(ctx, change("d"))
	if applied[len(applied)-1] != "d" {
		t.Errorf("applied %v", applied)
	}
}
