package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestStopOnSignals checks that the first signal ends the context and the
// second exits at once with status 1.
func TestStopOnSignals(t *testing.T) {
	sigs := make(chan os.Signal)
	var out strings.Builder
	exited := make(chan int, 1)
	ctx, stop := stopOnSignals(sigs, &out, func(code int) { exited <- code })
	defer stop()
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	sigs <- syscall.SIGTERM
	if code := <-exited; code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(out.String(), "repeat to exit at once") || !strings.Contains(out.String(), "exiting without flushing") {
		t.Errorf("messages: %q", out.String())
	}
}

// TestStopOnSignalsDone checks that stop releases the watcher without a
// signal, and that a command ending normally never exits.
func TestStopOnSignalsDone(t *testing.T) {
	sigs := make(chan os.Signal)
	ctx, stop := stopOnSignals(sigs, &strings.Builder{}, func(int) { t.Error("exit called") })
	stop()
	<-ctx.Done()
	select {
	case sigs <- syscall.SIGTERM:
		t.Error("a signal was taken after stop")
	default:
	}
}
