// Package cloudtrail decodes AWS CloudTrail records into ingest.Events.
//
// # Input forms
//
// Decode accepts, after ingest.Open has removed any gzip layer:
//
//   - S3 delivery objects `{"Records":[…]}` of any size: the Records array
//     is streamed element by element and never held whole in memory;
//     several such objects may follow each other;
//   - NDJSON, one record per line, as CloudWatch Logs exports them;
//   - CloudWatch Logs subscription envelopes
//     `{"messageType":"DATA_MESSAGE","logEvents":[{"id","timestamp","message"}]}`
//     whose messages are records (one per line or concatenated);
//     CONTROL_MESSAGE envelopes yield nothing;
//   - a top-level JSON array of records, or pretty-printed records.
//
// Digest files (a src containing "CloudTrail-Digest", or objects with
// digestStartTime or digestPublicKeyFingerprint) are skipped silently.
//
// The mode is chosen from the first bytes: when the stream starts with a
// one-line object that is not a Records or logEvents container it is read
// line by line, and a malformed line is reported with its line number
// without affecting the next. Otherwise JSON values are read one after the
// other regardless of line breaks, and malformed records are reported with
// their byte offset. A stream that ends inside a value (a truncated S3
// object) keeps the records before the break and reports the offset where
// the broken value starts. Each record, line or Records element is capped
// at Config.Limits.RecordBytes().
//
// Records are decoded with github.com/goccy/go-json into map[string]any:
// numbers are float64 and nested structures stay maps and slices, so rules
// see CloudTrail's own field names. A JSON object without any of
// eventVersion, eventName, eventSource, eventID, eventTime or userIdentity,
// or with a non-string eventName, eventSource or eventID, is reported as
// not CloudTrail.
//
// # Event fields
//
//   - ID: eventID, else ingest.StableID("cloudtrail", src, position), the
//     position being the line number of a record alone at the start of its
//     line, "cw:" and the CloudWatch event id for a subscription message,
//     else "@" and the record's byte offset.
//   - Time: eventTime, else @timestamp (RFC 3339, or "2022-11-29 00:09:04.38"
//     with optional fraction and zone, read as UTC), else the CloudWatch
//     event timestamp. A record with none of these is still emitted, with
//     a zero Time, so that no record is lost; consumers treat a zero Time as
//     unknown.
//   - Raw: the record's bytes without insignificant white space. The strings
//     of Fields may share its memory (see jsonstream.Record.Object), so
//     Raw must not be modified.
//
// Normalized fields: Account = recipientAccountId, else
// userIdentity.accountId; Region = awsRegion; Actor = userIdentity.arn,
// else principalId, userName, "root" for type Root, else invokedBy;
// Action = the service and eventName in IAM action form, "iam:CreateUser"
// (eventSource without ".amazonaws.com"), or the bare eventName without
// eventSource; Target = the first of a list of resource-naming
// requestParameters (bucketName, roleName, userName, functionName,
// instanceId, name, …), else resources[0].ARN; SrcIP = sourceIPAddress
// when it is an IP address (canonical form; leading zeros in IPv4 octets
// tolerated); Outcome = "failure" when errorCode is set or
// responseElements.ConsoleLogin is "Failure", else "success"; UserAgent =
// userAgent.
package cloudtrail
