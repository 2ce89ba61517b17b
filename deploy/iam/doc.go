// Package iam holds the least-privilege IAM policy of the vigil ingester
// (ingest-policy.json): s3:ListBucket and s3:GetObject on the log prefixes,
// the three SQS calls of the notification source, logs:FilterLogEvents on
// named log groups, and sts:AssumeRole on named collection roles. Its
// bucket, queue, group, account and role names are examples to replace; see
// README.md. The package's test checks that the policy parses, grants
// nothing beyond those actions on wildcard resources, and covers every AWS
// call the ingest sources make.
package iam

import _ "embed"

// Policy is the ingester's IAM policy document.
//
//go:embed ingest-policy.json
var Policy []byte
