package rules

import (
	"fmt"
	"strings"
)

// Pos is a position in a rule file: 1-based line and column.
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col, or as file alone when the
// line is unknown.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Level tells how serious a Diagnostic is.
type Level int

// Diagnostic levels. Errors make a rule set unusable; warnings do not.
const (
	LevelError Level = iota
	LevelWarning
)

// String returns "error" or "warning".
func (l Level) String() string {
	if l == LevelWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found in a rule file.
type Diagnostic struct {
	Pos   Pos
	Level Level
	Msg   string
}

// Error formats the diagnostic as "file:line:col: msg", with a "warning: "
// prefix before msg for warnings.
func (d Diagnostic) Error() string {
	if d.Level == LevelWarning {
		return fmt.Sprintf("%s: warning: %s", d.Pos, d.Msg)
	}
	return fmt.Sprintf("%s: %s", d.Pos, d.Msg)
}

// Diagnostics is a list of diagnostics; as an error it prints one per line.
// Load returns the errors it found as a Diagnostics.
type Diagnostics []Diagnostic

// Error joins the diagnostics, one per line.
func (ds Diagnostics) Error() string {
	var b strings.Builder
	for i, d := range ds {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.Error())
	}
	return b.String()
}

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Level == LevelError {
			return true
		}
	}
	return false
}

// diags collects diagnostics while loading or linting.
type diags struct {
	list Diagnostics
}

func (d *diags) errorf(p Pos, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Pos: p, Level: LevelError, Msg: fmt.Sprintf(format, args...)})
}

func (d *diags) warnf(p Pos, format string, args ...any) {
	d.list = append(d.list, Diagnostic{Pos: p, Level: LevelWarning, Msg: fmt.Sprintf(format, args...)})
}
