package main

import (
	"context"
	"path/filepath"
	"testing"
)

// TestReadyChecks checks /readyz's conditions: not ready before the bus is
// up or once the store is closed.
func TestReadyChecks(t *testing.T) {
	ctx := context.Background()
	p, err := newPipeline(pipelineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, "duckdb://"+filepath.Join(t.TempDir(), "v.duckdb"), false)
	if err != nil {
		t.Fatal(err)
	}
	checks := readyChecks(p, st)
	failing := func() []string {
		var names []string
		for _, c := range checks {
			if c.Check(ctx) != nil {
				names = append(names, c.Name)
			}
		}
		return names
	}
	if got := failing(); len(got) != 1 || got[0] != "bus" {
		t.Errorf("before the run: failing %v, want [bus]", got)
	}
	p.busUp.Store(true)
	if got := failing(); len(got) != 0 {
		t.Errorf("running: failing %v", got)
	}
	st.Close()
	if got := failing(); len(got) != 1 || got[0] != "store" {
		t.Errorf("store closed: failing %v, want [store]", got)
	}
}
