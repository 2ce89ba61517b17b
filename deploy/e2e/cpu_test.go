package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100
// on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime returns the user and system CPU time a process has used so far,
// or 0 when it cannot be read.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its
	// closing parenthesis are plain: utime and stime are fields 14 and 15.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * clockTick
}

// cpu returns the CPU time the process has used: read from /proc while it
// runs, from its final usage once it has ended.
func (p *proc) cpu() time.Duration {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return 0
	}
	select {
	case <-done:
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	default:
		return cpuTime(cmd.Process.Pid)
	}
}

// clickhousePID returns the PID of the local ClickHouse server, or 0.
func clickhousePID() int {
	out, err := exec.Command("pgrep", "-o", "clickhouse").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return pid
}
