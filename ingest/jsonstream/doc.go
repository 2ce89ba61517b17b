// Package jsonstream reads streams of JSON records for the decoders of
// JSON log types (cloudtrail, k8saudit).
//
// Split finds the records of a byte stream in any of the shapes such logs
// are delivered in: NDJSON, pretty-printed or concatenated objects, a
// top-level array, container objects of any size such as CloudTrail's
// `{"Records":[…]}` or a Kubernetes EventList, and CloudWatch Logs
// subscription envelopes whose log event messages are records. It never
// holds more than one capped record in memory, reports each malformed
// record with its exact position (line number in NDJSON, byte offset
// otherwise) and goes on with the next: in NDJSON a broken line never
// affects the next one.
//
// Record.Object decodes a record into a map[string]any with
// github.com/goccy/go-json; Str, IP and ParseTime read the fields of such
// maps as the decoders need them.
package jsonstream
