// Package correlate combines the signals of correlation rules into alerts,
// in the stream, on event time.
//
// The matcher (package detect) turns a match of a rule with a correlate
// block into a Signal keyed by the rule's group key, and a match of a rule
// with a suppress block into a Signal keyed by its suppress key. A
// Correlator holds the state of each rule per key: count and distinct
// windows, partial sequences, first steps of an absence awaiting their
// follow-up, the values first_seen has learned, and suppression periods.
//
// Event time and determinism. Signals are not correlated when they arrive
// but when the watermark (the newest event time seen minus the allowed
// lateness, 15 minutes by default) passes them, and then in event-time
// order, ties broken by event ID. So the same signals in any arrival order
// within the lateness give the same alerts with the same alert IDs
// (ingest.StableID of rule, group key and the first contributing event).
// Signals older than the watermark are late: counted per rule, not
// correlated.
//
// Alerts. A count or distinct alert fires when the threshold is reached and
// stays open while further matching events of the key follow within the
// window; it closes, in its final state, when the window passes with none.
// Sequence, first_seen and absence alerts open and close at once. Every
// alert carries the IDs of its contributing events, capped, with the true
// count.
//
// Suppression. The signals of a suppressed rule do not wait for the
// watermark: the first match of a key opens its alert at once (the next
// Advance returns it), later matches within the rule's period (suppress.for
// after the first, on event time) fold into it in arrival order (an event
// ID already among the alert's event IDs is not counted again), and the
// period closes, returning the alert in
// its final state with the same ID, when the newest event time reaches its
// end or a later match of the key comes. At most Config.MaxOpen periods are
// open over all rules; at the cap the one due to close first closes early
// and is counted in Stats.
//
// Bounds. Each rule holds at most Config.MaxWindows windows (and
// first_seen at most Config.MaxValues values); at the cap the one due to
// close first is dropped and counted in Stats. Count windows are stored
// compactly: a slab of 64-byte windows found through an open-addressing
// table by a 64-bit hash of the key (the key text is not kept), event IDs
// packed into 17 bytes, expiry by a queue in event-time order (signals are
// correlated in that order, so the queue needs no heap): about 115 bytes
// per open window holding one event, 32 more per further event.
//
// State that survives. Snapshot and Restore carry the whole state over a
// restart. Without a snapshot, state can be rebuilt by replaying the input
// from Span before the first unprocessed position with Replaying(true),
// which correlates without returning alerts already emitted: a suppressed
// alert that opened before the restart is rebuilt quietly and closes after
// it with its ID and full count. first_seen learning needs a snapshot, and
// so does exactness for a key whose suppressed matches never left a gap of
// a period for longer than a period plus the lateness (see Span). A correlator that reads only the signals topic
// learns that time passes from time marks (signals without a rule).
package correlate
