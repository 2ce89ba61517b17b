package detect

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// loadRules compiles rule YAML documents.
func loadRules(tb testing.TB, docs ...string) []*rules.Rule {
	tb.Helper()
	set, err := rules.Load(fstest.MapFS{"r.yaml": {Data: []byte(strings.Join(docs, "\n---\n"))}})
	if err != nil {
		tb.Fatal(err)
	}
	return set.Rules
}

func rule(id, logType, when string, extra ...string) string {
	return "id: " + id + "\ntitle: " + id + "\nseverity: low\nlog_types: [" + logType + "]\nwhen: '" +
		strings.ReplaceAll(when, "'", "''") + "'\n" + strings.Join(extra, "\n")
}

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

func event(id, typ string, at time.Duration, fields map[string]any) *ingest.Event {
	return &ingest.Event{ID: id, Type: typ, Time: t0.Add(at), Fields: fields}
}

func ruleIDs(as []*Alert) []string {
	var ids []string
	for _, a := range as {
		ids = append(ids, a.RuleID)
	}
	return ids
}

func TestMatchIndexing(t *testing.T) {
	rs := loadRules(t,
		rule("indexed", "cloudtrail", `eventName == "StopLogging" && errorCode == nil`),
		rule("indexed-in", "cloudtrail", `eventSource == "iam.amazonaws.com" && eventName in ["CreateUser", "StopLogging"]`),
		rule("catch-all", "cloudtrail", `userIdentity.type == "Root"`),
		rule("either", "cloudtrail", `eventName == "StopLogging" || eventName == "DeleteTrail"`),
		rule("k8s-exec", "k8saudit", `verb == "create" && objectRef.subresource == "exec"`),
		rule("disabled", "cloudtrail", `true`, "enabled: false"),
	)
	m, err := New(rs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   *ingest.Event
		want []string
	}{
		{"indexed and catch-all", event("e1", "cloudtrail", 0, map[string]any{
			"eventName": "StopLogging", "eventSource": "iam.amazonaws.com", "userIdentity": map[string]any{"type": "Root"}}),
			[]string{"indexed", "indexed-in", "catch-all", "either"}},
		{"in list second value", event("e2", "cloudtrail", 0, map[string]any{
			"eventName": "CreateUser", "eventSource": "iam.amazonaws.com"}), []string{"indexed-in"}},
		{"other event", event("e3", "cloudtrail", 0, map[string]any{"eventName": "DeleteTrail"}), []string{"either"}},
		{"error code set", event("e4", "cloudtrail", 0, map[string]any{
			"eventName": "StopLogging", "errorCode": "AccessDenied"}), []string{"either"}},
		{"non-string index field", event("e5", "cloudtrail", 0, map[string]any{"eventName": 3.0}), nil},
		{"k8s only sees k8s rules", event("e6", "k8saudit", 0, map[string]any{
			"verb": "create", "objectRef": map[string]any{"subresource": "exec"}, "userIdentity": map[string]any{"type": "Root"}}),
			[]string{"k8s-exec"}},
		{"unknown log type", event("e7", "auditd", 0, map[string]any{"eventName": "StopLogging"}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleIDs(m.Match(tt.ev)); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	st := m.Stats()
	if len(st.Rules) != 5 || st.Events != uint64(len(tests)) {
		t.Errorf("stats: %d rules, %d events", len(st.Rules), st.Events)
	}
	// the indexed rule was evaluated only on StopLogging events
	if st.Rules[0].ID != "indexed" || st.Rules[0].Evals != 2 {
		t.Errorf("indexed rule evaluated %d times", st.Rules[0].Evals)
	}
}

// TestSuppressedSignals checks that the matcher keeps no suppression
// state: each match of a suppressed rule becomes a signal keyed by the
// suppress key, carrying the alert's group key when it differs, for the
// correlator (package correlate) to fold into periods.
func TestSuppressedSignals(t *testing.T) {
	rs := loadRules(t,
		rule("login", "cloudtrail", `eventName == "ConsoleLogin"`,
			"suppress: {key: [userIdentity.arn], for: 1h}", "group_by: [userIdentity.arn, sourceIPAddress]",
			"summary: 'login of {{ userIdentity.arn }}'"),
		rule("root", "cloudtrail", `userIdentity.type == "Root"`, "suppress: {key: [recipientAccountId], for: 1h}"),
	)
	var sigs []Signal
	m, err := New(rs, Config{Signal: func(s Signal) { sigs = append(sigs, s) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []*ingest.Event{
		event("a1", "cloudtrail", 0, map[string]any{"eventName": "ConsoleLogin",
			"userIdentity": map[string]any{"arn": "alice"}, "sourceIPAddress": "192.0.2.1"}),
		event("a2", "cloudtrail", time.Minute, map[string]any{"eventName": "ConsoleLogin",
			"userIdentity": map[string]any{"arn": "alice", "type": "Root"}, "sourceIPAddress": "192.0.2.1",
			"recipientAccountId": "111122223333"}),
	} {
		if got := m.Match(ev); len(got) != 0 {
			t.Errorf("%s: suppressed rules returned alerts %+v", ev.ID, got)
		}
	}
	want := []Signal{
		{RuleID: "login", GroupKey: "userIdentity.arn=alice", AlertKey: "userIdentity.arn=alice,sourceIPAddress=192.0.2.1",
			EventID: "a1", Time: t0, LogType: "cloudtrail", Summary: "login of alice"},
		{RuleID: "login", GroupKey: "userIdentity.arn=alice", AlertKey: "userIdentity.arn=alice,sourceIPAddress=192.0.2.1",
			EventID: "a2", Time: t0.Add(time.Minute), LogType: "cloudtrail", Summary: "login of alice"},
		{RuleID: "root", GroupKey: "recipientAccountId=111122223333", EventID: "a2", Time: t0.Add(time.Minute),
			LogType: "cloudtrail", Summary: "root"},
	}
	if !slices.Equal(sigs, want) {
		t.Errorf("signals:\n got %+v\nwant %+v", sigs, want)
	}
	if got := m.Flush(); len(got) != 0 {
		t.Errorf("flush returned %+v; the matcher holds nothing open", got)
	}
}

func TestEvalErrors(t *testing.T) {
	rs := loadRules(t,
		rule("bad-type", "cloudtrail", `len(eventName) > 3`),
		rule("nil-safe", "cloudtrail", `userIdentity.sessionContext.sessionIssuer.type == nil`),
	)
	m, err := New(rs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	evs := []*ingest.Event{
		event("1", "cloudtrail", 0, map[string]any{"eventName": 42.0}),
		event("2", "cloudtrail", 0, nil),
		event("3", "cloudtrail", 0, map[string]any{"eventName": "ConsoleLogin"}),
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ruleIDs(m.Match(ev))...)
	}
	want := []string{"nil-safe", "nil-safe", "bad-type", "nil-safe"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	st := m.Stats().Rules[0]
	if st.Errors != 2 || st.Evals != 3 || st.Matches != 1 || st.LastError == "" {
		t.Errorf("stats %+v", st)
	}
}

func TestAlertIDDeterministic(t *testing.T) {
	rs := loadRules(t, rule("r", "cloudtrail", `eventName == "X"`, "group_by: [recipientAccountId]",
		"summary: '{{ eventName }} in {{ recipientAccountId }}'", "tags: [t1]", "version: 3"))
	ev := event("evt-1", "cloudtrail", 0, map[string]any{"eventName": "X", "recipientAccountId": "111122223333"})
	var ids []string
	for range 2 {
		m, err := New(rs, Config{})
		if err != nil {
			t.Fatal(err)
		}
		a := m.Match(ev)[0]
		ids = append(ids, a.AlertID)
		if a.Summary != "X in 111122223333" || a.RuleVersion != 3 || a.LogType != "cloudtrail" || a.Tags[0] != "t1" {
			t.Errorf("alert %+v", a)
		}
	}
	want := ingest.StableID("r", "recipientAccountId=111122223333", "evt-1")
	if ids[0] != want || ids[1] != want {
		t.Errorf("ids %v, want %s", ids, want)
	}
}
