// Package detect evaluates rules on events and turns matches into alerts.
//
// A Matcher indexes rules by log type and by the equality constraint their
// expression places on eventName, verb, syscall, eventSource or type (see
// rules.Constraint), so that the cost per event depends on the rules that
// can match it, not on the size of the rule set. Evaluation errors are
// counted per rule and never stop the matcher.
//
// Suppression folds the matches of a rule with equal suppress key values
// within the rule's period, measured on event time, into one alert whose
// count and last_time grow. Every alert is reported twice: when it opens
// (Match, count 1, for streaming) and when it closes (Advance or Flush, in
// its final state). Alert IDs are deterministic, so a consumer may upsert
// by alert_id.
package detect
