// Package s3 reads CloudTrail and VPC flow log deliveries from S3.
//
// Source lists a bucket prefix (s3://BUCKET/PREFIX?type=cloudtrail|vpcflow).
// Below the prefix it finds the dated folders of AWS deliveries, whatever
// lies above them: AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/,
// organization trails AWSLogs/<org-id>/<account>/CloudTrail/<region>/…,
// AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/[HH/], and Hive-style
// year=YYYY/month=MM/day=DD/ folders. Digest files (CloudTrail-Digest) and the
// other log type's delivery folders are skipped. It reads day by day, each
// day's keys in order, and remembers in its checkpoint (per bucket, prefix
// and type) which keys were read; days that ended more than the lookback ago
// collapse into a "done through" date, days within it are listed again on
// each poll so late and back-filled deliveries are picked up. An object is
// marked read when the last batch of its events is acknowledged; one cut
// short by a restart is read again whole, and its duplicates are absorbed
// downstream by event ID. It follows new deliveries until closed; with
// Until it reads a window once (a backfill, under its own checkpoint), and
// with Once what is there now, under the following checkpoint (vigil run).
//
// ObjectReader, used by the listing source and the SQS notification source
// (package sqs), streams an object through gunzip (detected by magic bytes)
// and the decoder as it downloads, under the caps of ingest.Limits. A
// corrupt or truncated object, a gzip bomb, an oversized record are
// reported with the object's s3:// name and the offset in its decompressed
// content; the good records before the damage are kept and the source goes
// on.
//
// Ledger orders checkpoint changes after acknowledgements; both sources use
// it. Open builds a source from its URL; awsconf documents the AWS options.
package s3
