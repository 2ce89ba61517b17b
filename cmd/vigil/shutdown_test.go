package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestMain runs the command itself when VIGIL_TEST_MAIN is set, so that
// tests can signal a real vigil process.
func TestMain(m *testing.M) {
	if os.Getenv("VIGIL_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

var summaryEventsRE = regexp.MustCompile(`run: (\d+) events`)

// TestRunSIGTERM signals a `vigil run` over many files once it has printed
// its first alert: it stops reading, stores everything it read, says so and
// exits 0.
func TestRunSIGTERM(t *testing.T) {
	dir, rulesDir := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(rulesDir, "tick.yaml"), `id: shutdown-tick
title: Tick
severity: info
log_types: [cloudtrail]
when: eventName == "Tick"
`)
	const files, perFile = 60, 400
	total := 0
	for f := range files {
		names := make([]string, perFile)
		for i := range names {
			names[i] = "Other"
		}
		names[0] = "Tick"
		var recs []string
		for i, name := range names {
			recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.08","eventTime":"2026-03-14T10:%02d:%02dZ","eventID":"s%d-%d","eventSource":"test.amazonaws.com","eventName":%q,"awsRegion":"eu-west-1","recipientAccountId":"111122223333"}`, f%60, i%60, f, i, name))
			total++
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("in%03d.json", f)), `{"Records":[`+strings.Join(recs, ",")+`]}`)
	}
	store := filepath.Join(t.TempDir(), "vigil.duckdb")
	cmd := exec.Command(os.Args[0], "run", "--format", "json", "--rules", rulesDir, "--source", "file://"+dir, "--store", "duckdb://"+store)
	cmd.Env = append(os.Environ(), "VIGIL_TEST_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("no alert printed; stderr:\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vigil run after SIGTERM: %v\nstderr:\n%s", err, stderr.String())
	}
	m := summaryEventsRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("no summary:\n%s", stderr.String())
	}
	read, _ := strconv.Atoi(m[1])
	events, _, _ := storeCounts(t, store)
	if int64(read) != events || read == 0 {
		t.Errorf("read %d events, stored %d", read, events)
	}
	if read < total {
		if !strings.Contains(stderr.String(), "stopped reading; what was read is stored") {
			t.Errorf("interrupted run does not say so:\n%s", stderr.String())
		}
	} else {
		t.Logf("the run read all %d events before the signal arrived", total)
	}
}
