// Package k8saudit decodes Kubernetes audit events (audit.k8s.io/v1 and
// v1beta1, kind Event) into ingest.Events.
//
// # Input forms
//
// Decode accepts, after ingest.Open has removed any gzip layer:
//
//   - NDJSON, one audit event per line, as the API server's log backend
//     writes them and as EKS control-plane logs are exported from
//     CloudWatch Logs (each log event message is one audit event);
//   - an EventList `{"kind":"EventList","items":[…]}` of any size: items are
//     streamed one by one and never held whole in memory;
//   - CloudWatch Logs subscription envelopes
//     `{"messageType":"DATA_MESSAGE","logEvents":[{"id","timestamp","message"}]}`
//     whose messages are audit events; CONTROL_MESSAGE envelopes yield
//     nothing;
//   - a top-level JSON array of events, or pretty-printed events.
//
// The mode is chosen from the first bytes: when the stream starts with a
// one-line object that is not an items or logEvents container it is read
// line by line, and a malformed line is reported with its line number
// without affecting the next. Otherwise JSON values are read one after the
// other regardless of line breaks, and malformed records are reported with
// their byte offset; a stream that ends inside a value keeps the events
// before it and reports where the broken value starts. Each event, line or
// items element is capped at Config.Limits.RecordBytes().
//
// Events are decoded with github.com/goccy/go-json into map[string]any
// (numbers float64, nested structures as maps and slices), so rules see the
// audit event's own field names. A missing apiVersion is tolerated. A JSON
// object is reported as bad, not emitted, when it has none of kind,
// apiVersion, auditID, verb, stage, requestURI, user or objectRef, when its
// kind is anything but "Event" (so the malformed `{"kind":0}` is reported
// with its position), when its apiVersion is not audit.k8s.io/*, or when
// auditID, verb or stage is not a string.
//
// # Event fields
//
//   - ID: ingest.StableID("k8saudit", auditID, stage) when auditID is set
//     (one event per request stage), else ingest.StableID("k8saudit", src,
//     position), the position being the line number of an event alone at
//     the start of its line, "cw:" and the CloudWatch event id for a
//     subscription message, else "@" and the event's byte offset.
//   - Time: stageTimestamp, else requestReceivedTimestamp, else timestamp
//     (v1beta1), in RFC 3339 or "2022-11-29 00:09:04.38" form (read as UTC),
//     else the CloudWatch event timestamp. An event with none of these is
//     still emitted with a zero Time, so that no event is lost.
//   - Raw: the event's bytes without insignificant white space. The strings
//     of Fields may share its memory (see jsonstream.Record.Object), so
//     Raw must not be modified.
//
// Normalized fields: Actor = user.username; Action = verb; Target = the
// object reference as "resource[/subresource] namespace/name"
// ("pods/exec default/web-0"), "resource name" for cluster-scoped objects
// ("clusterroles admin"), "resource namespace/" for a collection in a
// namespace, "resource" for a cluster-wide collection, or the requestURI
// when there is no objectRef; SrcIP = sourceIPs[0] when it is an IP
// address; Outcome = "failure" when responseStatus.code >= 400, "success"
// for other codes, "" without a code; UserAgent = userAgent. Account and
// Region stay empty.
package k8saudit
