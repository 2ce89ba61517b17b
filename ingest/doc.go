// Package ingest holds what every log source and decoder shares: the Event
// envelope, the Decoder and Source contracts, decode errors that carry their
// position, and the byte-stream plumbing (gzip detection, caps on record and
// decompressed size, line splitting) that keeps hostile input from exhausting
// memory.
//
// Decoders live in sub-packages, one per log type (cloudtrail, vpcflow,
// k8saudit, auditd). They turn bytes into Events and never stop at a bad
// record: a malformed record is reported through Handler.Bad with its
// position and decoding goes on with the next one.
package ingest
