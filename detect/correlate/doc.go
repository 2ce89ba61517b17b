// Package correlate combines the signals of correlation rules into alerts,
// in the stream, on event time.
//
// The matcher (package detect) turns a match of a rule with a correlate
// block into a Signal keyed by the rule's group key. A Correlator holds the
// state of each rule per key: count and distinct windows, partial
// sequences, first steps of an absence awaiting their follow-up, and the
// values first_seen has learned.
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
// which correlates without returning alerts already emitted; first_seen
// learning needs a snapshot. A correlator that reads only the signals topic
// learns that time passes from time marks (signals without a rule).
package correlate
