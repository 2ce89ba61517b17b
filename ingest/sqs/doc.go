// Package sqs reads S3 objects announced through an SQS queue: S3 event
// notifications sent to the queue directly or through SNS, and EventBridge
// "Object Created" events. Each announced object is streamed through the
// decoder of the source's log type (see package s3's ObjectReader); the
// message is deleted only after all of its objects' events were
// acknowledged, and its visibility is extended while that takes long.
// s3:TestEvent messages and other S3 events are deleted without reading
// anything; messages that are not S3 notifications are reported and left
// for the queue's redrive policy.
package sqs
