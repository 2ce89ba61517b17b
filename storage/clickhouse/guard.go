package clickhouse

import (
	"context"
	"time"
)

// guardedContext carries the caller's values and deadline, and ends when
// the caller's context ends, but only while the call it guards runs.
type guardedContext struct {
	context.Context
	deadline time.Time
	hasDL    bool
}

func (g guardedContext) Deadline() (time.Time, bool) { return g.deadline, g.hasDL }

// guard returns the context for one call into the driver, and a function
// to call when the call returned. The driver closes a connection when the
// context of an operation ends; if that happens just after the operation
// returned, it closes a connection already back in its pool, and the next
// user of that connection fails ("use of closed network connection",
// clickhouse-go #2032). A caller's `defer cancel()` does exactly that. The
// guarded context ends with ctx while the call runs and never after.
func guard(ctx context.Context) (context.Context, func()) {
	inner, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	dl, ok := ctx.Deadline()
	return guardedContext{Context: inner, deadline: dl, hasDL: ok}, func() { stop() }
}
