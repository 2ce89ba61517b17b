package rules

import (
	"strings"
	"testing"
	"testing/fstest"
)

// compileRule loads one rule (plus extra documents) and returns it.
func compileRule(t *testing.T, when string, extra ...string) *Rule {
	t.Helper()
	doc := "id: r\ntitle: R\nseverity: low\nlog_types: [cloudtrail]\nwhen: '" + strings.ReplaceAll(when, "'", "''") + "'\n"
	set, err := Load(fstest.MapFS{"r.yaml": {Data: []byte(strings.Join(append([]string{doc}, extra...), "\n---\n"))}})
	if err != nil {
		t.Fatal(err)
	}
	return set.Rules[0]
}

func TestExpressions(t *testing.T) {
	fields := map[string]any{
		"src":   "10.1.2.3",
		"pub":   "8.8.8.8",
		"cgnat": "100.64.1.1",
		"v6":    "fd00::1",
		"port":  3333.0,
		"iport": 4444,
		"name":  "StopLogging",
		"cidrs": "192.0.2.0/24",
		"deep":  map[string]any{"a": map[string]any{"b": []any{"x", map[string]any{"c": "y"}}}},
	}
	lists := "list: ports\nitems: [3333, 4444]"
	tests := []struct {
		when string
		want bool
		err  string
	}{
		{`cidr_match(src, "10.0.0.0/8")`, true, ""},
		{`cidr_match(src, "192.168.0.0/16", "10.1.2.3")`, true, ""},
		{`cidr_match(pub, "10.0.0.0/8")`, false, ""},
		{`cidr_match(missing, "10.0.0.0/8")`, false, ""},
		{`cidr_match("192.0.2.9", cidrs)`, true, ""},
		{`cidr_match(src, name)`, false, `invalid CIDR "StopLogging"`},
		{`is_private_ip(src) && is_private_ip(cgnat) && is_private_ip(v6) && is_private_ip("127.0.0.1")`, true, ""},
		{`is_private_ip(pub) || is_private_ip(nil) || is_private_ip(port) || is_private_ip("x")`, false, ""},
		{`in_list("ports", port) && in_list("ports", iport) && in_list("ports", "3333")`, true, ""},
		{`in_list("ports", 3333.5) || in_list("ports", nil)`, false, ""},
		{`get(deep, "a.b.1.c") == "y" && get(deep, "a.b.0") == "x"`, true, ""},
		{`get(deep, "a.x.y") == nil && get(nil, "a") == nil`, true, ""},
		{`deep.a.missing.more == nil && missing.x.y == nil && deep.a.b[1].c == "y"`, true, ""},
		{`any(deep.a.b, {.c == "y"})`, false, "invalid operation"}, // a member of a string is an error, not nil
		{`lower(name) contains "stop" && name startsWith "Stop" && name matches "^Stop"`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			r := compileRule(t, tt.when, lists)
			got, err := r.Eval(fields)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want error %q, got %v (%v)", tt.err, err, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConstraint(t *testing.T) {
	tests := []struct {
		when  string
		want  string
		found bool
	}{
		{`eventName == "A"`, "eventName=A", true},
		{`"A" == eventName && eventSource == "s"`, "eventName=A", true},
		{`eventSource == "s" && eventName in ["B", "A"]`, "eventName=A,B", true},
		{`eventSource == "s" && userIdentity.type == "Root"`, "eventSource=s", true},
		{`m && errorCode == nil`, "eventName=ConsoleLogin", true},
		{`eventName == "B" || eventName in ["A", "B", "A"]`, "eventName=A,B", true},
		{`(verb == "get" or verb == "list") && objectRef.resource == "secrets"`, "verb=get,list", true},
		{`eventName == "A" || eventSource == "B"`, "", false},
		{`eventName == "A" || userIdentity.type == "Root"`, "", false},
		{`!(eventName == "A")`, "", false},
		{`eventName in [1, 2]`, "", false},
		{`userIdentity.type == "Root"`, "", false},
		// the steps of a sequence: disjunctions of conjunctions
		{`(eventName == "StopLogging" && x == 1) || (eventName in ["StartLogging", "A"] && y)`, "eventName=A,StartLogging,StopLogging", true},
		{`(eventName == "A" && eventSource == "s") || (eventSource == "t" && eventName == "B")`, "eventName=A,B", true},
		{`(eventName == "A" && x) || (eventSource == "t")`, "", false},
		{`(eventName == "A" && x) || y`, "", false},
		{`((eventName == "A" || eventName == "B") && x) || (eventName == "C" && y) || eventName == "D"`, "eventName=A,B,C,D", true},
	}
	for _, tt := range tests {
		t.Run(tt.when, func(t *testing.T) {
			r := compileRule(t, tt.when, "macro: m\nwhen: eventName == \"ConsoleLogin\" && true")
			c, ok := r.Constraint()
			got := ""
			if ok {
				got = c.Field + "=" + strings.Join(c.Values, ",")
			}
			if ok != tt.found || got != tt.want {
				t.Errorf("got %q (%v), want %q", got, ok, tt.want)
			}
		})
	}
}

func TestRenderSummary(t *testing.T) {
	r := compileRule(t, "true")
	tests := []struct {
		tpl  string
		want string
	}{
		{`{{ a }} and {{b.c}}`, "x and 2"},
		{`{{ missing }}|{{ missing | default "none" }}`, "|none"},
		{`{{ esc }}`, "redtext line2"},
		{`{{ list }} {{ m }}`, `["p",1] {"k":true}`},
		{`{{ bidi }}`, "abc"},
	}
	fields := map[string]any{
		"a":    "x",
		"b":    map[string]any{"c": 2.0},
		"esc":  "\x1b[31mred\x1b[0m\x07text\nline2\x1b]0;title\x07",
		"list": []any{"p", 1},
		"m":    map[string]any{"k": true},
		"bidi": "a\u202eb\u0085c",
	}
	for _, tt := range tests {
		tpl, msg := parseTemplate(tt.tpl)
		if msg != "" {
			t.Fatalf("%s: %s", tt.tpl, msg)
		}
		r.summary = tpl
		if got := r.RenderSummary(fields); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.tpl, got, tt.want)
		}
	}
	for _, bad := range []string{`{{ a`, `{{ a b }}`, `{{ a | upper }}`, `{{ a | default x }}`} {
		if _, msg := parseTemplate(bad); msg == "" {
			t.Errorf("%s: want a parse error", bad)
		}
	}
	r.summary = template{}
	long := map[string]any{"a": strings.Repeat("é", MaxSummaryBytes)}
	r.summary, _ = parseTemplate("{{ a }}")
	if got := r.RenderSummary(long); len(got) > MaxSummaryBytes+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("long summary not capped: %d bytes", len(got))
	}
}
