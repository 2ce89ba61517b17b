// Package vpcflow decodes Amazon VPC Flow Logs in their plain-text form:
// one space-separated flow record per line, as delivered to S3 (files that
// start with a header line naming the fields) and to CloudWatch Logs (bare
// records in the flow log's configured format).
//
// # Formats
//
// The format of a record is, in order of precedence: the last header line
// seen in the stream (a header may appear again mid-stream, for example in
// concatenated files, and switches the format from there on), else
// Config.Format, else the version 2 default format (DefaultFormat). Every
// field documented for versions 2 to 8 is known; other field-name-shaped
// names are accepted as text fields so that formats with fields newer than
// this package still decode. A header line is a line of distinct
// field-name-shaped words (lower case, digits, inner hyphens) more than half
// of which are known field names; record values never look like that.
//
// # Fields
//
// Each record becomes one ingest.Event whose Fields map holds the record
// under the AWS field names with hyphens replaced by underscores
// (log-status becomes log_status). A value of "-" means absent and its key
// is left out. version, srcport, dstport, protocol, packets, bytes, start,
// end, tcp_flags and traffic_path are ints; every other field is the text as
// written (IP addresses included, so an address with leading zeros is kept
// as is). When protocol is present, protocol_name is added: "tcp", "udp",
// "icmp", "icmpv6", or the protocol number as decimal text. NODATA and
// SKIPDATA records are kept as events with the fields they have.
//
// Event.Time is start, else end, in UTC; it is the zero time.Time when the
// record has neither. Event.ID is ingest.StableID("vpcflow", source, line
// number). Event.Raw is the line without its line ending.
//
// # Tolerance
//
// Fields may be separated by any run of ASCII white space. A token that starts
// with '#' begins a comment that runs to the end of the line; lines that are
// blank or only a comment are skipped. A CRLF line ending is accepted, and a
// UTF-8 byte order mark before the first line is ignored. Control characters
// inside a field are kept in its text. A line whose number of fields differs
// from the format's (ErrFieldCount), or with a non-integer value in an
// integer field (ErrBadInteger), or longer than Limits.MaxRecordBytes
// (ingest.ErrRecordTooLarge), is reported with its line number and skipped.
//
// The CloudWatch Logs subscription envelope (gzipped JSON) is not decoded
// here; a caller that unwraps it can feed the messages as lines.
package vpcflow
