package rules

import (
	"io/fs"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Severities, from least to most severe.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists the valid severities in ascending order.
var Severities = []string{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Modes of a rule, the values of its mode key.
const (
	// ModeEnabled rules are evaluated, and their alerts stored and
	// notified. It is the default.
	ModeEnabled = "enabled"
	// ModeStaging rules are evaluated and their alerts stored (marked
	// staging), but never notified: for trying a new rule on live data
	// before it pages anyone.
	ModeStaging = "staging"
)

// Modes lists the valid modes, the default first.
var Modes = []string{ModeEnabled, ModeStaging}

// Rule is one detection rule, as loaded from a rule file and compiled.
type Rule struct {
	ID          string
	Title       string
	Description string
	Severity    string
	LogTypes    []string
	When        string
	// Enabled is true unless the file says enabled: false. A disabled
	// rule is not evaluated at all, whatever its Mode.
	Enabled bool
	// Mode is ModeEnabled unless the file says mode: staging; the alerts
	// of a staging rule are stored but not notified.
	Mode string
	// Suppress is nil when the rule has no suppress block.
	Suppress *Suppress
	// GroupBy are the field paths forming an alert's group key. When the
	// file has no group_by it is Suppress.Key, else empty.
	GroupBy    []string
	Summary    string
	Tags       []string
	Runbook    string
	References []string
	// Version defaults to 1.
	Version int
	// Correlate is nil for a single-event rule. When set, the rule's
	// matches are signals for a correlator, not alerts.
	Correlate *Correlate
	Tests     []Test

	// Pos is the position of the document (its first key).
	Pos Pos
	// WhenPos is the position of the when key.
	WhenPos Pos

	fsys     fs.FS  // the file system the rule was loaded from
	path     string // the rule file's path in fsys
	program  *vm.Program
	summary  template
	keyPaths [][]string // Suppress.Key split at dots
	grpPaths [][]string // the field paths of GroupBy, split at dots
	grpKey   []keyPart  // GroupBy: field paths and named expressions
	fields   []fieldRef // field paths the rule reads, for lint
	keyPos   map[string]Pos
}

// Suppress folds repeated matches of a rule into one alert.
type Suppress struct {
	// Key are field paths; matches with equal values of all of them within
	// For share one alert.
	Key []string
	// For is the suppression period, measured on event time.
	For time.Duration
}

// Test is one rule test: input records and the number of alerts expected.
// Exactly one of Log, Logs and File is set.
type Test struct {
	Name string
	// Log is one record: a map[string]any for JSON log types, a string of
	// raw lines for line-oriented ones.
	Log any
	// Logs is a list of records, each like Log.
	Logs []any
	// File is the fixture path as written, relative to the rule file.
	File   string
	Expect int
	// Alerts, when the test lists its expected alerts (expect: [...]),
	// are those alerts in order of first event time; Expect is then their
	// number.
	Alerts []ExpectedAlert
	Pos    Pos

	fsys fs.FS
	path string // File resolved in fsys
}

// ExpectedAlert is one alert a test expects.
type ExpectedAlert struct {
	// Rule, when set, is the id of the rule under test.
	Rule string
	// GroupKey is the alert's group key ("path=value,...").
	GroupKey string
	// Count, when positive, is the alert's count of contributing events.
	Count int
	Pos   Pos
}

// Open opens the test's fixture file (Test.File resolved against the rule
// file's directory, in the file system the rule was loaded from).
func (t *Test) Open() (fs.File, error) {
	if t.File == "" {
		return nil, &fs.PathError{Op: "open", Path: t.File, Err: fs.ErrInvalid}
	}
	return t.fsys.Open(t.path)
}

// Macro is a named boolean expression that rules use as a bare identifier.
type Macro struct {
	Name    string
	When    string
	Pos     Pos
	WhenPos Pos
}

// List is a named list of strings for in_list.
type List struct {
	Name  string
	Items []string
	// File is the list file as written, when items come from a file.
	File string
	Pos  Pos

	set map[string]struct{}
}

// Contains reports whether v is one of the list's items.
func (l *List) Contains(v string) bool {
	_, ok := l.set[v]
	return ok
}

// Set is a loaded rule set: rules in load order, macros and lists by name.
type Set struct {
	Rules  []*Rule
	Macros map[string]*Macro
	Lists  map[string]*List
}

// Rule returns the rule with the given id, or nil.
func (s *Set) Rule(id string) *Rule {
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}
