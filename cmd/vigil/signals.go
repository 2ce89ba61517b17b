package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// stopOnSignals returns a context that ends at the first value from sigs
// (SIGINT, SIGTERM): commands then stop reading and flush what they read.
// A second signal calls exit(1) at once, for an operator who will not wait
// for the flush. Call stop when the command has returned; it stops the
// watching goroutine.
func stopOnSignals(sigs <-chan os.Signal, w io.Writer, exit func(int)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case s := <-sigs:
			fmt.Fprintf(w, "vigil: %v: stopping after what was read is stored; repeat to exit at once\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(w, "vigil: %v again: exiting without flushing\n", s)
			exit(1)
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		<-exited
		cancel()
	}
}
