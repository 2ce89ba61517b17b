package sqs

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Object is one S3 object a notification announces.
type Object struct {
	Bucket string
	Key    string
	Size   int64
	// Region is where the bucket is, as the notification says; "" when it
	// does not.
	Region string
}

// ErrNotNotification is returned by Parse for a message that is neither an
// S3 event notification (raw or wrapped in SNS) nor an EventBridge S3 event.
var ErrNotNotification = errors.New("not an S3 event notification")

// envelope has the fields of every message shape Parse understands.
type envelope struct {
	// S3 event notification.
	Records []struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		AWSRegion   string `json:"awsRegion"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
	// S3 test event, sent when notifications are configured.
	Event string `json:"Event"`
	// SNS notification.
	Type    string `json:"Type"`
	Message string `json:"Message"`
	// EventBridge event.
	Region     string `json:"region"`
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
	Detail     struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		} `json:"object"`
	} `json:"detail"`
}

// Parse returns the objects created according to an SQS message body: an
// S3 event notification sent straight to the queue or through SNS, or an
// EventBridge "Object Created" event. Other S3 events (deletions, the
// s3:TestEvent) yield no objects and no error.
func Parse(body []byte) ([]Object, error) {
	return parse(body, 0)
}

func parse(body []byte, depth int) ([]Object, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotNotification, err)
	}
	switch {
	case e.Type == "Notification" && e.Message != "":
		if depth > 0 {
			return nil, fmt.Errorf("%w: SNS inside SNS", ErrNotNotification)
		}
		return parse([]byte(e.Message), depth+1)
	case e.Event == "s3:TestEvent":
		return nil, nil
	case e.Source == "aws.s3":
		if e.DetailType != "Object Created" {
			return nil, nil
		}
		if e.Detail.Bucket.Name == "" || e.Detail.Object.Key == "" {
			return nil, fmt.Errorf("%w: EventBridge event without bucket or key", ErrNotNotification)
		}
		return []Object{{Bucket: e.Detail.Bucket.Name, Key: e.Detail.Object.Key, Size: e.Detail.Object.Size, Region: e.Region}}, nil
	case e.Records != nil:
		var objs []Object
		for _, r := range e.Records {
			if r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
				continue
			}
			// Keys in S3 notifications are URL-encoded, spaces as '+'.
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil || r.S3.Bucket.Name == "" || key == "" {
				return nil, fmt.Errorf("%w: record without bucket or valid key %q", ErrNotNotification, r.S3.Object.Key)
			}
			objs = append(objs, Object{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size, Region: r.AWSRegion})
		}
		return objs, nil
	}
	return nil, ErrNotNotification
}
