package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/vigilsec/vigil/cmd/vigil/ops"
	"github.com/vigilsec/vigil/storage"
)

// serveOps starts the HTTP server of /metrics, /healthz and /readyz on
// addr, unless addr is empty; /readyz checks that the pipeline's bus is up
// and that the store answers a query. The returned function stops the
// server and returns its error. With withPprof it serves /debug/pprof/ too.
func serveOps(ctx context.Context, addr string, withPprof bool, p *pipeline, st storage.Querier, log *slog.Logger) (func() error, error) {
	return startOps(ctx, addr, withPprof, ops.Handler(p.metrics, readyChecks(p, st)...), log)
}

// startOps serves h on addr, unless addr is empty, until the returned
// function is called; that function stops the server and returns its
// error. A port already taken is reported at once. With withPprof it
// serves Go's profiling endpoints beside h.
func startOps(ctx context.Context, addr string, withPprof bool, h http.Handler, log *slog.Logger) (func() error, error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	if withPprof {
		h = ops.WithPprof(h)
	}
	l, err := ops.Listen(addr)
	if err != nil {
		return nil, err
	}
	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- ops.Serve(srvCtx, l, h, log) }()
	log.Info("serving /metrics, /healthz and /readyz", "addr", l.Addr().String(), "pprof", withPprof)
	return func() error {
		stop()
		return <-done
	}, nil
}

// readyChecks are the conditions of /readyz: the pipeline's bus is up and
// the store answers a query.
func readyChecks(p *pipeline, st storage.Querier) []ops.Check {
	return []ops.Check{
		{Name: "bus", Check: func(context.Context) error {
			if !p.busUp.Load() {
				return errors.New("the in-process bus is not running")
			}
			return nil
		}},
		{Name: "store", Check: func(ctx context.Context) error {
			_, err := st.Query(ctx, "SELECT 1")
			return err
		}},
	}
}
