package iam

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/ingest/cloudwatch"
	"github.com/vigilsec/vigil/ingest/s3"
	"github.com/vigilsec/vigil/ingest/sqs"
)

// strings1 is an IAM field that is a string or a list of strings.
type strings1 []string

func (s *strings1) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

type statement struct {
	Sid       string
	Effect    string
	Action    strings1
	Resource  strings1
	Condition map[string]map[string]strings1 `json:",omitempty"`
}

type document struct {
	Version   string
	Statement []statement
}

func parse(t *testing.T) document {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(Policy))
	dec.DisallowUnknownFields()
	var d document
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("ingest-policy.json: %v", err)
	}
	return d
}

// allowed maps each action the ingester may have to what it is for.
var allowed = map[string]string{
	"s3:ListBucket":               "listing source",
	"s3:GetObject":                "object reads",
	"sqs:ReceiveMessage":          "notification source",
	"sqs:DeleteMessage":           "notification source",
	"sqs:ChangeMessageVisibility": "notification source",
	"logs:FilterLogEvents":        "CloudWatch Logs source",
	"sts:AssumeRole":              "role_arn option",
}

func TestPolicyIsLeastPrivilege(t *testing.T) {
	d := parse(t)
	if d.Version != "2012-10-17" {
		t.Errorf("Version %q", d.Version)
	}
	sids := map[string]bool{}
	for _, st := range d.Statement {
		if st.Sid == "" || sids[st.Sid] {
			t.Errorf("statement Sid %q missing or repeated", st.Sid)
		}
		sids[st.Sid] = true
		if st.Effect != "Allow" {
			t.Errorf("%s: Effect %q", st.Sid, st.Effect)
		}
		for _, a := range st.Action {
			if _, ok := allowed[a]; !ok {
				t.Errorf("%s: action %q is not one the ingester needs", st.Sid, a)
			}
		}
		for _, r := range st.Resource {
			if r == "*" || !strings.HasPrefix(r, "arn:aws:") {
				t.Errorf("%s: resource %q is not a named ARN", st.Sid, r)
			}
			if strings.HasPrefix(r, "arn:aws:s3:::") && strings.Contains(r, "/") && !strings.Contains(r, "/AWSLogs/") {
				t.Errorf("%s: object resource %q is outside the log prefix", st.Sid, r)
			}
		}
		if slices.Contains(st.Action, "s3:ListBucket") && len(st.Condition["StringLike"]["s3:prefix"]) == 0 {
			t.Errorf("%s: s3:ListBucket without an s3:prefix condition", st.Sid)
		}
	}
}

// Every AWS call made by the sources' client interfaces is granted.
func TestPolicyCoversTheCalls(t *testing.T) {
	granted := map[string]bool{}
	for _, st := range parse(t).Statement {
		for _, a := range st.Action {
			granted[a] = true
		}
	}
	calls := map[string]string{
		"GetObject": "s3:GetObject", "ListObjectsV2": "s3:ListBucket",
		"ReceiveMessage": "sqs:ReceiveMessage", "DeleteMessage": "sqs:DeleteMessage",
		"ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
		"FilterLogEvents":         "logs:FilterLogEvents",
	}
	for _, api := range []reflect.Type{
		reflect.TypeFor[s3.API](), reflect.TypeFor[sqs.API](), reflect.TypeFor[cloudwatch.API](),
	} {
		for i := range api.NumMethod() {
			m := api.Method(i).Name
			action, ok := calls[m]
			if !ok {
				t.Errorf("%v calls %s, which this test does not map to an IAM action", api, m)
				continue
			}
			if !granted[action] {
				t.Errorf("%v.%s needs %s, which the policy does not grant", api, m, action)
			}
		}
	}
	if !granted["sts:AssumeRole"] {
		t.Error("the role_arn option needs sts:AssumeRole")
	}
}
