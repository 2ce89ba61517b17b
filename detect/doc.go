// Package detect evaluates rules on events and turns matches into alerts.
//
// A Matcher indexes rules by log type and by the equality constraint their
// expression places on eventName, verb, syscall, eventSource or type (see
// rules.Constraint), so that the cost per event depends on the rules that
// can match it, not on the size of the rule set. Evaluation errors are
// counted per rule and never stop the matcher.
//
// The matcher keeps no state between events. A match of a single-event
// rule is an alert at once. A match of a correlation rule, or of a rule
// with a suppress block, becomes a Signal for the correlator (package
// correlate), which holds windows and suppression periods and can carry
// them over a restart. Suppression folds the matches of a rule with equal
// suppress key values within the rule's period, measured on event time,
// into one alert whose count and last_time grow. Every alert is reported
// twice: when it opens (for streaming) and when it closes (in its final
// state). Alert IDs are deterministic, so a consumer may upsert by
// alert_id.
package detect
