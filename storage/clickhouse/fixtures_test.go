package clickhouse

import (
	"fmt"
	"strings"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/rules"
)

// The story of the fixtures, in the shape of the demo logs (deploy/demo):
// root signs in from 203.0.113.45 without MFA, creates a user, stops the
// trail, launches GPU instances in a new region; the instances mine on
// ports 3333 and 14444; an engineer works normally from the office.
const (
	account  = "111122223333"
	rootARN  = "arn:aws:iam::111122223333:root"
	aliceARN = "arn:aws:iam::111122223333:user/alice.martin"
	attacker = "203.0.113.45"
	pool     = "198.51.100.23"
	office   = "81.2.69.142"
)

func at(hhmmss string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-14 "+hhmmss)
	if err != nil {
		panic(err)
	}
	return t
}

func trail(id, hhmmss, region, actor, action, target, ip, outcome string) *ingest.Event {
	return &ingest.Event{
		ID: id, Type: ingest.TypeCloudTrail, Time: at(hhmmss),
		Source: "file://demo/cloudtrail.json",
		Raw: []byte(fmt.Sprintf(`{"eventID":%q,"eventName":%q,"awsRegion":%q,"sourceIPAddress":%q}`,
			id, action[strings.IndexByte(action, ':')+1:], region, ip)),
		Norm: ingest.Normalized{
			Account: account, Region: region, Actor: actor, Action: action, Target: target,
			SrcIP: ip, Outcome: outcome, UserAgent: "aws-cli/2.15.30",
		},
	}
}

func flow(n int, hhmmss, instance, src, dst string, srcPort, dstPort int, action string) *ingest.Event {
	outcome := "success"
	if action == "REJECT" {
		outcome = "failure"
	}
	return &ingest.Event{
		ID: ingest.StableID("vpcflow", "file://demo/flow.log", fmt.Sprint(n)), Type: ingest.TypeVPCFlow,
		Time: at(hhmmss), Source: "file://demo/flow.log",
		Raw: []byte(fmt.Sprintf("2 %s eni-1 %s %s %d %d 6 10 840 0 0 %s OK", account, src, dst, srcPort, dstPort, action)),
		Norm: ingest.Normalized{
			Account: account, Region: "eu-west-1", Actor: instance, Action: action,
			Target: fmt.Sprintf("%s:%d", dst, dstPort), SrcIP: src, DstIP: dst,
			SrcPort: srcPort, DstPort: dstPort, Protocol: "tcp", Outcome: outcome,
		},
	}
}

// demoEvents returns the fixture events in time order.
func demoEvents() []*ingest.Event {
	return []*ingest.Event{
		trail("ct-01", "09:05:10", "us-east-1", aliceARN, "signin:ConsoleLogin", "", office, "success"),
		trail("ct-02", "09:06:00", "eu-west-1", aliceARN, "ec2:DescribeInstances", "", office, "success"),
		trail("ct-03", "09:12:03", "us-east-1", rootARN, "signin:ConsoleLogin", "", attacker, "failure"),
		trail("ct-04", "09:12:41", "us-east-1", rootARN, "signin:ConsoleLogin", "", attacker, "failure"),
		trail("ct-05", "09:13:27", "us-east-1", rootARN, "signin:ConsoleLogin", "", attacker, "success"),
		trail("ct-06", "09:14:52", "us-east-1", rootARN, "iam:CreateAccessKey", "", attacker, "success"),
		trail("ct-07", "09:15:40", "us-east-1", rootARN, "iam:CreateUser", "backup-svc", attacker, "success"),
		trail("ct-08", "09:16:11", "us-east-1", rootARN, "iam:AttachUserPolicy", "backup-svc", attacker, "success"),
		trail("ct-09", "09:19:40", "eu-west-1", rootARN, "cloudtrail:StopLogging", "account-audit", attacker, "success"),
		trail("ct-10", "09:20:05", "eu-west-1", aliceARN, "s3:GetBucketPolicy", "acme-artifacts", office, "failure"),
		trail("ct-11", "09:20:30", "eu-west-1", aliceARN, "s3:GetBucketPolicy", "acme-artifacts", office, "failure"),
		trail("ct-12", "09:44:00", "ap-southeast-1", rootARN, "ec2:DescribeRegions", "", attacker, "failure"),
		trail("ct-13", "09:45:12", "eu-west-1", rootARN, "ec2:RunInstances", "ami-0f3e2d1c0b9a87654", attacker, "success"),
		flow(1, "09:51:18", "i-0a1b2c3d4e5f60718", attacker, "10.0.12.34", 50122, 22, "ACCEPT"),
		flow(2, "09:51:31", "i-0a1b2c3d4e5f60718", "10.0.12.34", pool, 40112, 3333, "ACCEPT"),
		flow(3, "09:53:14", "i-0a1b2c3d4e5f60729", "10.0.12.57", pool, 40200, 3333, "ACCEPT"),
		flow(4, "10:18:09", "i-0a1b2c3d4e5f60718", "10.0.12.34", pool, 40113, 14444, "ACCEPT"),
		flow(5, "10:20:00", "i-0a1b2c3d4e5f60718", "45.155.204.18", "10.0.1.10", 61000, 3389, "REJECT"),
		{
			ID: "k8s-01", Type: ingest.TypeK8sAudit, Time: at("10:05:30"), Source: "file://demo/k8s.ndjson",
			Raw: []byte(`{"auditID":"k8s-01","verb":"create"}`),
			Norm: ingest.Normalized{
				Actor: "arn:aws:iam::111122223333:user/backup-svc", Action: "create",
				Target: "pods/exec payments/payments-api-6f9c7d8b5d-q2w7x", SrcIP: attacker,
				Outcome: "success", UserAgent: "kubectl/v1.31.2",
			},
		},
	}
}

// demoAlerts returns alerts raised by the fixture events.
func demoAlerts() []*detect.Alert {
	alert := func(rule, severity, group string, first, last string, ids ...string) *detect.Alert {
		return &detect.Alert{
			AlertID: ingest.StableID(rule, group, ids[0]), RuleID: rule, Title: rule, Severity: severity,
			Summary: rule + " by " + group, GroupKey: group, FirstTime: at(first), LastTime: at(last),
			Count: len(ids), EventIDs: ids, Tags: []string{"attack.t1078.004"}, LogType: ingest.TypeCloudTrail,
			RuleVersion: 1,
		}
	}
	flowID := func(n int) string { return ingest.StableID("vpcflow", "file://demo/flow.log", fmt.Sprint(n)) }
	miner := alert("vpcflow-miner-pool-port-egress", "high", "srcaddr=10.0.12.34", "09:51:31", "10:18:09", flowID(2), flowID(4))
	miner.LogType = ingest.TypeVPCFlow
	miner.Tags = []string{"attack.t1496"}
	// A rule on trial (mode: staging): stored, never notified.
	regions := alert("aws-new-region-used", "medium", "userIdentity.arn="+rootARN, "09:44:00", "09:45:12", "ct-12", "ct-13")
	regions.Mode = rules.ModeStaging
	return []*detect.Alert{
		alert("aws-console-login-failed", "low", "userIdentity.arn="+rootARN, "09:12:03", "09:12:41", "ct-03", "ct-04"),
		alert("aws-root-account-usage", "high", "recipientAccountId="+account, "09:13:27", "09:45:12",
			"ct-05", "ct-06", "ct-07", "ct-08", "ct-09", "ct-12", "ct-13"),
		alert("aws-iam-admin-policy-attached", "high", "userIdentity.arn="+rootARN, "09:16:11", "09:16:11", "ct-08"),
		alert("aws-cloudtrail-logging-stopped", "critical", "userIdentity.arn="+rootARN, "09:19:40", "09:19:40", "ct-09"),
		miner,
		regions,
	}
}
