package main

import (
	"fmt"
	"sort"
	"time"
)

// ct is one CloudTrail record before serialisation.
type ct struct {
	t           time.Time
	region      string
	source      string
	name        string
	who         O
	ip          string
	ua          string
	errMsg      string
	req         any
	resp        any
	extra       O // additionalEventData
	readOnly    bool
	resources   A
	eventType   string // default AwsApiCall
	data        bool   // data event (S3 object level)
	vpce        string
	shared      string // sharedEventID
	noReqID     bool
	tlsHost     string
	fromConsole bool
}

// record renders c as AWS writes it.
func (c ct) record(g *gen) O {
	et := c.eventType
	if et == "" {
		et = "AwsApiCall"
	}
	version := "1.10"
	if et == "AwsConsoleSignIn" {
		version = "1.09"
	}
	o := O{
		{"eventVersion", version},
		{"userIdentity", c.who},
		{"eventTime", c.t.UTC().Format(time.RFC3339)},
		{"eventSource", c.source},
		{"eventName", c.name},
		{"awsRegion", c.region},
		{"sourceIPAddress", c.ip},
		{"userAgent", c.ua},
	}
	if c.errMsg != "" {
		o = append(o, F{"errorMessage", c.errMsg})
	}
	o = append(o, F{"requestParameters", c.req}, F{"responseElements", c.resp})
	if c.extra != nil {
		o = append(o, F{"additionalEventData", c.extra})
	}
	if !c.noReqID {
		o = append(o, F{"requestID", g.uuid()})
	}
	o = append(o, F{"eventID", g.uuid()}, F{"readOnly", c.readOnly})
	if c.resources != nil {
		o = append(o, F{"resources", c.resources})
	}
	o = append(o, F{"eventType", et}, F{"managementEvent", !c.data},
		F{"recipientAccountId", account})
	if c.vpce != "" {
		o = append(o, F{"vpcEndpointId", c.vpce}, F{"vpcEndpointAccountId", account})
	}
	if c.shared != "" {
		o = append(o, F{"sharedEventID", c.shared})
	}
	cat := "Management"
	if c.data {
		cat = "Data"
	}
	o = append(o, F{"eventCategory", cat})
	if c.tlsHost != "" {
		o = append(o, F{"tlsDetails", O{
			{"tlsVersion", "TLSv1.3"},
			{"cipherSuite", "TLS_AES_128_GCM_SHA256"},
			{"clientProvidedHostHeader", c.tlsHost},
		}})
	}
	if c.fromConsole {
		o = append(o, F{"sessionCredentialFromConsole", "true"})
	}
	return o
}

// host returns the regional endpoint host name for a service.
func host(service, reg string) string {
	switch service {
	case "iam":
		return "iam.amazonaws.com"
	case "signin":
		return "signin.aws.amazon.com"
	}
	return service + "." + reg + ".amazonaws.com"
}

// Identities.

var (
	rootArn = "arn:aws:iam::" + account + ":root"
	// Keys the attacker creates and uses.
	rootKey   = "AKIAQX4MCTRN5EXAMPLE"
	backupKey = "AKIAQX4MCTRN7EXAMPLE"
	backupID  = "AIDAQX4MCTRNBKPSVC001"
)

func rootConsole(g *gen, since time.Time, key string) O {
	return O{
		{"type", "Root"},
		{"principalId", account},
		{"arn", rootArn},
		{"accountId", account},
		{"accessKeyId", key},
		{"sessionContext", O{
			{"sessionIssuer", O{}},
			{"webIdFederationData", O{}},
			{"attributes", O{{"creationDate", since.Format(time.RFC3339)}, {"mfaAuthenticated", "false"}}},
		}},
	}
}

func rootCLI() O {
	return O{{"type", "Root"}, {"principalId", account}, {"arn", rootArn}, {"accountId", account}, {"accessKeyId", rootKey}}
}

func backupCLI() O {
	return O{
		{"type", "IAMUser"}, {"principalId", backupID},
		{"arn", "arn:aws:iam::" + account + ":user/backup-svc"},
		{"accountId", account}, {"accessKeyId", backupKey}, {"userName", "backup-svc"},
	}
}

// engineer is an IAM user who signs in to the console with MFA.
type engineer struct {
	name, id, ip, ua string
	key              string
	since            time.Time
}

func (e engineer) identity() O {
	return O{
		{"type", "IAMUser"}, {"principalId", e.id},
		{"arn", "arn:aws:iam::" + account + ":user/" + e.name},
		{"accountId", account}, {"accessKeyId", e.key}, {"userName", e.name},
		{"sessionContext", O{
			{"sessionIssuer", O{}},
			{"webIdFederationData", O{}},
			{"attributes", O{{"creationDate", e.since.Format(time.RFC3339)}, {"mfaAuthenticated", "true"}}},
		}},
	}
}

// role is an IAM role assumed by a workload.
type role struct {
	name, id, session, key string
	web                    string // OIDC provider for web identity sessions
	since                  time.Time
}

func (r role) arn() string { return "arn:aws:iam::" + account + ":role/" + r.name }

func (r role) identity() O {
	web := O{}
	if r.web != "" {
		web = O{{"federatedProvider", r.web}, {"attributes", O{}}}
	}
	return O{
		{"type", "AssumedRole"},
		{"principalId", r.id + ":" + r.session},
		{"arn", "arn:aws:sts::" + account + ":assumed-role/" + r.name + "/" + r.session},
		{"accountId", account},
		{"accessKeyId", r.key},
		{"sessionContext", O{
			{"sessionIssuer", O{{"type", "Role"}, {"principalId", r.id}, {"arn", r.arn()}, {"accountId", account}, {"userName", r.name}}},
			{"webIdFederationData", web},
			{"attributes", O{{"creationDate", r.since.Format(time.RFC3339)}, {"mfaAuthenticated", "false"}}},
		}},
	}
}

func service(name string) O {
	return O{{"type", "AWSService"}, {"invokedBy", name}}
}

// awsDate formats times the way IAM and STS responses do.
func awsDate(t time.Time) string { return t.Format("Jan 2, 2006 3:04:05 PM") }

const (
	uaCLIAttacker = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-21-generic exe/x86_64.ubuntu.22 prompt/off command/"
	uaFirefox     = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
	uaChromeMac   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	uaChromeWin   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	uaBoto        = "Boto3/1.34.61 md/Botocore#1.34.61 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython exec-env/AWS_Lambda_python3.11 cfg/retry-mode#legacy Botocore/1.34.61"
	uaGoSDK       = "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.149.1"
	uaCNI         = "amazon-vpc-cni-k8s/version/v1.18.3 aws-sdk-go/1.50.26 (go1.21.8; linux; amd64)"
	uaAutoscaler  = "aws-sdk-go/1.48.7 (go1.21.5; linux; amd64) cluster-autoscaler/v1.29.0"
	uaKubelet     = "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/ecr#1.27.1 ecr-credential-provider"
	uaCIcli       = "aws-cli/2.15.28 md/awscrt#0.19.19 ua/2.0 os/linux#5.15.0-1055-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#docker prompt/off command/"
	uaS3App       = "aws-sdk-java/2.25.6 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.2+13-LTS Java/21.0.2 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_EC2 io/sync http/Apache cfg/retry-mode/standard"
	officeIP1     = "81.2.69.142"
	officeIP2     = "81.2.69.160"
	ciNatIP       = "34.248.117.20"
)

// writeCloudTrail adds the CloudTrail delivery objects to files.
func writeCloudTrail(g *gen, files map[string][]byte) error {
	var recs []ct
	recs = append(recs, ctBackground(g)...)
	recs = append(recs, ctAttack(g)...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].t.Before(recs[j].t) })

	// CloudTrail delivers roughly every five minutes per region; the demo
	// groups records into half-hour objects to keep the file count small.
	type object struct {
		region string
		end    time.Time
	}
	buckets := map[object][]O{}
	var order []object
	for _, c := range recs {
		end := c.t.Truncate(30 * time.Minute).Add(30 * time.Minute)
		k := object{c.region, end}
		if _, ok := buckets[k]; !ok {
			order = append(order, k)
		}
		buckets[k] = append(buckets[k], c.record(g))
	}
	for _, k := range order {
		body, err := marshal(O{{"Records", buckets[k]}})
		if err != nil {
			return err
		}
		name := fmt.Sprintf("cloudtrail/%s_CloudTrail_%s_%s_%s.json", account, k.region,
			k.end.Format("20060102T1504Z"), g.alnum(16, mixed))
		// Delivered objects are gzipped; one is kept plain so the demo can be
		// read without tools.
		if k.region == region && k.end.Equal(at(10, 30, 0, 0)) {
			files[name] = append(body, '\n')
			continue
		}
		z, err := gz(body)
		if err != nil {
			return err
		}
		files[name+".gz"] = z
	}
	return nil
}

// ctAttack returns the attacker's CloudTrail records (steps a–d, e and the
// EKS access set-up before step g).
func ctAttack(g *gen) []ct {
	var out []ct
	signin := func(t time.Time, ok bool) ct {
		result := "Success"
		if !ok {
			result = "Failure"
		}
		c := ct{
			t: t, region: "us-east-1", source: "signin.amazonaws.com", name: "ConsoleLogin",
			who: O{{"type", "Root"}, {"principalId", account}, {"arn", rootArn}, {"accountId", account}, {"accessKeyId", ""}},
			ip:  attackIP, ua: uaFirefox,
			req: nil, resp: O{{"ConsoleLogin", result}},
			extra: O{
				{"LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_4b1d0c2e7f6a5b93"},
				{"MobileVersion", "No"}, {"MFAUsed", "No"},
			},
			eventType: "AwsConsoleSignIn", noReqID: true, tlsHost: "signin.aws.amazon.com",
		}
		if !ok {
			c.errMsg = "Failed authentication"
		}
		return c
	}
	// a. two failed root sign-ins, then a successful one without MFA.
	out = append(out, signin(at(9, 12, 3, 0), false), signin(at(9, 12, 41, 0), false), signin(at(9, 13, 27, 0), true))

	session := at(9, 13, 27, 0)
	consoleKey := "ASIAQX4MCTRNR00TSESS"
	iamConsole := func(t time.Time, name string, ro bool, req, resp any) ct {
		return ct{t: t, region: "us-east-1", source: "iam.amazonaws.com", name: name,
			who: rootConsole(g, session, consoleKey), ip: attackIP, ua: "AWS Internal",
			req: req, resp: resp, readOnly: ro, tlsHost: "iam.amazonaws.com", fromConsole: true}
	}
	out = append(out,
		iamConsole(at(9, 13, 52, 0), "GetAccountSummary", true, nil, nil),
		iamConsole(at(9, 14, 20, 0), "ListUsers", true, nil, nil),
		// b. root creates an access key for itself.
		iamConsole(at(9, 14, 52, 0), "CreateAccessKey", false, nil, O{{"accessKey", O{
			{"accessKeyId", rootKey}, {"status", "Active"}, {"createDate", awsDate(at(9, 14, 52, 0))},
		}}}),
	)
	cli := func(t time.Time, svc, reg, name, cmd string, ro bool, req, resp any) ct {
		return ct{t: t, region: reg, source: svc + ".amazonaws.com", name: name, who: rootCLI(),
			ip: attackIP, ua: uaCLIAttacker + cmd, req: req, resp: resp, readOnly: ro, tlsHost: host(svc, reg)}
	}
	userArn := "arn:aws:iam::" + account + ":user/backup-svc"
	out = append(out,
		cli(at(9, 15, 40, 0), "iam", "us-east-1", "CreateUser", "iam.create-user", false,
			O{{"userName", "backup-svc"}},
			O{{"user", O{{"path", "/"}, {"userName", "backup-svc"}, {"userId", backupID}, {"arn", userArn}, {"createDate", awsDate(at(9, 15, 40, 0))}}}}),
		cli(at(9, 15, 58, 0), "iam", "us-east-1", "CreateLoginProfile", "iam.create-login-profile", false,
			O{{"userName", "backup-svc"}, {"passwordResetRequired", false}},
			O{{"loginProfile", O{{"userName", "backup-svc"}, {"createDate", awsDate(at(9, 15, 58, 0))}, {"passwordResetRequired", false}}}}),
		cli(at(9, 16, 11, 0), "iam", "us-east-1", "AttachUserPolicy", "iam.attach-user-policy", false,
			O{{"userName", "backup-svc"}, {"policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"}}, nil),
		cli(at(9, 16, 30, 0), "iam", "us-east-1", "CreateAccessKey", "iam.create-access-key", false,
			O{{"userName", "backup-svc"}},
			O{{"accessKey", O{{"userName", "backup-svc"}, {"accessKeyId", backupKey}, {"status", "Active"}, {"createDate", awsDate(at(9, 16, 30, 0))}}}}),
	)
	// c. defence evasion.
	trailArn := "arn:aws:cloudtrail:" + region + ":" + account + ":trail/account-audit"
	out = append(out,
		cli(at(9, 19, 5, 0), "cloudtrail", region, "DescribeTrails", "cloudtrail.describe-trails", true,
			O{{"trailNameList", A{}}, {"includeShadowTrails", true}}, nil),
		cli(at(9, 19, 40, 0), "cloudtrail", region, "StopLogging", "cloudtrail.stop-logging", false,
			O{{"name", trailArn}}, nil),
		cli(at(9, 20, 55, 0), "ec2", region, "DescribeFlowLogs", "ec2.describe-flow-logs", true,
			O{{"DescribeFlowLogsRequest", O{}}}, nil),
		cli(at(9, 21, 30, 0), "ec2", region, "DeleteFlowLogs", "ec2.delete-flow-logs", false,
			O{{"DeleteFlowLogsRequest", O{{"FlowLogId", O{{"content", flowLogB}, {"tag", 1}}}}}},
			O{{"DeleteFlowLogsResponse", O{{"xmlns", "http://ec2.amazonaws.com/doc/2016-11-15/"}, {"requestId", g.uuid()}, {"unsuccessful", ""}}}}),
		cli(at(9, 22, 10, 0), "guardduty", region, "ListDetectors", "guardduty.list-detectors", true, nil, nil),
		cli(at(9, 22, 35, 0), "guardduty", region, "DeleteDetector", "guardduty.delete-detector", false,
			O{{"detectorId", "4ac6d1e2b3f4a5c6d7e8f9a0b1c2d3e4"}}, nil),
	)
	// d. GPU instances from the company's own GPU image, with a new key pair.
	ami := "ami-0f3e2d1c0b9a87654"
	out = append(out,
		cli(at(9, 40, 12, 0), "ec2", region, "DescribeImages", "ec2.describe-images", true,
			O{{"executableBySet", O{}}, {"ownersSet", O{{"items", A{O{{"owner", "self"}}}}}}, {"imagesSet", O{}}, {"filterSet", O{}}}, nil),
		cli(at(9, 41, 5, 0), "ec2", region, "ImportKeyPair", "ec2.import-key-pair", false,
			O{{"keyName", "ops-recovery"}, {"publicKeyMaterial", "<sensitiveDataRemoved>"}},
			O{{"requestId", g.uuid()}, {"keyName", "ops-recovery"}, {"keyFingerprint", "SHA256:Jw3m8Qn0v3c2Rk1pZ7yXe4sT9uB6aH5dL0fG2iK8oM4"}, {"keyPairId", "key-0d9c8b7a6f5e43210"}}),
		cli(at(9, 44, 30, 0), "ec2", region, "DescribeSubnets", "ec2.describe-subnets", true,
			O{{"subnetSet", O{}}, {"filterSet", O{}}}, nil),
		cli(at(9, 44, 48, 0), "ec2", region, "DescribeSecurityGroups", "ec2.describe-security-groups", true,
			O{{"securityGroupSet", O{}}, {"securityGroupIdSet", O{}}, {"filterSet", O{}}}, nil),
		runInstances(g, ami),
		// e. SSH opened to the world on the GPU workers' security group.
		cli(at(9, 46, 3, 0), "ec2", region, "AuthorizeSecurityGroupIngress", "ec2.authorize-security-group-ingress", false,
			O{{"groupId", gpuSG}, {"ipPermissions", O{{"items", A{O{
				{"ipProtocol", "tcp"}, {"fromPort", 22}, {"toPort", 22}, {"groups", O{}},
				{"ipRanges", O{{"items", A{O{{"cidrIp", "0.0.0.0/0"}}}}}},
				{"ipv6Ranges", O{}}, {"prefixListIds", O{}},
			}}}}}},
			O{{"requestId", g.uuid()}, {"_return", true}, {"securityGroupRuleSet", O{{"items", A{O{
				{"groupOwnerId", account}, {"groupId", gpuSG}, {"securityGroupRuleId", "sgr-0b7e2f1a9c8d3e4f5"},
				{"isEgress", false}, {"ipProtocol", "tcp"}, {"fromPort", 22}, {"toPort", 22}, {"cidrIpv4", "0.0.0.0/0"},
			}}}}}}),
	)
	// Before g: the attacker gives backup-svc cluster-admin through an EKS
	// access entry and fetches a kubeconfig with it.
	principal := userArn
	out = append(out,
		cli(at(10, 1, 14, 0), "eks", region, "CreateAccessEntry", "eks.create-access-entry", false,
			O{{"clusterName", cluster}, {"principalArn", principal}, {"type", "STANDARD"}},
			O{{"accessEntry", O{
				{"clusterName", cluster}, {"principalArn", principal}, {"kubernetesGroups", A{}},
				{"accessEntryArn", "arn:aws:eks:" + region + ":" + account + ":access-entry/" + cluster + "/user/" + account + "/backup-svc/5ec6b1f4-0a2d-7e19-3c8b-9d4f2a6e1b07"},
				{"createdAt", at(10, 1, 14, 0).Format("2006-01-02T15:04:05.000Z")},
				{"modifiedAt", at(10, 1, 14, 0).Format("2006-01-02T15:04:05.000Z")},
				{"tags", O{}}, {"username", principal}, {"type", "STANDARD"},
			}}}),
		cli(at(10, 1, 40, 0), "eks", region, "AssociateAccessPolicy", "eks.associate-access-policy", false,
			O{{"clusterName", cluster}, {"principalArn", principal},
				{"policyArn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"},
				{"accessScope", O{{"type", "cluster"}}}},
			O{{"clusterName", cluster}, {"principalArn", principal}, {"associatedAccessPolicy", O{
				{"policyArn", "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"},
				{"accessScope", O{{"type", "cluster"}, {"namespaces", A{}}}},
				{"associatedAt", at(10, 1, 40, 0).Format("2006-01-02T15:04:05.000Z")},
				{"modifiedAt", at(10, 1, 40, 0).Format("2006-01-02T15:04:05.000Z")},
			}}}),
		ct{t: at(10, 3, 2, 0), region: region, source: "eks.amazonaws.com", name: "DescribeCluster",
			who: backupCLI(), ip: attackIP, ua: uaCLIAttacker + "eks.update-kubeconfig",
			req: O{{"name", cluster}}, readOnly: true, tlsHost: host("eks", region)},
	)
	return out
}

// runInstances is step d: two p3.16xlarge instances in the public GPU subnet.
func runInstances(g *gen, ami string) ct {
	t := at(9, 45, 12, 0)
	sgSet := O{{"items", A{O{{"groupId", gpuSG}, {"groupName", "gpu-workers"}}}}}
	inst := func(id, ip, eni, mac string, idx int) O {
		dns := "ip-" + dashIP(ip) + "." + region + ".compute.internal"
		return O{
			{"instanceId", id}, {"imageId", ami}, {"currentInstanceBootMode", "legacy-bios"},
			{"instanceState", O{{"code", 0}, {"name", "pending"}}},
			{"privateDnsName", dns}, {"keyName", "ops-recovery"}, {"amiLaunchIndex", idx},
			{"productCodes", O{}}, {"instanceType", "p3.16xlarge"},
			{"launchTime", t.UnixMilli()},
			{"placement", O{{"availabilityZone", region + "a"}, {"tenancy", "default"}}},
			{"monitoring", O{{"state", "disabled"}}},
			{"subnetId", gpuSubnet}, {"vpcId", vpcID}, {"privateIpAddress", ip},
			{"stateReason", O{{"code", "pending"}, {"message", "pending"}}},
			{"architecture", "x86_64"}, {"rootDeviceType", "ebs"}, {"rootDeviceName", "/dev/xvda"},
			{"blockDeviceMapping", O{}}, {"virtualizationType", "hvm"}, {"hypervisor", "xen"},
			{"groupSet", sgSet}, {"sourceDestCheck", true},
			{"networkInterfaceSet", O{{"items", A{O{
				{"networkInterfaceId", eni}, {"subnetId", gpuSubnet}, {"vpcId", vpcID}, {"ownerId", account},
				{"status", "in-use"}, {"macAddress", mac}, {"privateIpAddress", ip}, {"privateDnsName", dns},
				{"sourceDestCheck", true}, {"interfaceType", "interface"}, {"groupSet", sgSet},
				{"attachment", O{{"attachmentId", "eni-attach-0" + g.hex(16)}, {"deviceIndex", 0}, {"networkCardIndex", 0},
					{"status", "attaching"}, {"attachTime", t.UnixMilli()}, {"deleteOnTermination", true}}},
				{"privateIpAddressesSet", O{{"item", A{O{{"privateIpAddress", ip}, {"privateDnsName", dns}, {"primary", true}}}}}},
				{"ipv6AddressesSet", O{}}, {"tagSet", O{}},
			}}}}},
			{"ebsOptimized", true}, {"enaSupport", true},
			{"cpuOptions", O{{"coreCount", 32}, {"threadsPerCore", 2}}},
			{"capacityReservationSpecification", O{{"capacityReservationPreference", "open"}}},
			{"enclaveOptions", O{{"enabled", false}}},
			{"metadataOptions", O{{"state", "pending"}, {"httpTokens", "optional"}, {"httpPutResponseHopLimit", 1}, {"httpEndpoint", "enabled"}, {"httpProtocolIpv4", "enabled"}, {"httpProtocolIpv6", "disabled"}, {"instanceMetadataTags", "disabled"}}},
			{"maintenanceOptions", O{{"autoRecovery", "default"}}},
			{"privateDnsNameOptions", O{{"hostnameType", "ip-name"}, {"enableResourceNameDnsARecord", false}, {"enableResourceNameDnsAAAARecord", false}}},
		}
	}
	return ct{
		t: t, region: region, source: "ec2.amazonaws.com", name: "RunInstances", who: rootCLI(),
		ip: attackIP, ua: uaCLIAttacker + "ec2.run-instances", tlsHost: host("ec2", region),
		req: O{
			{"instancesSet", O{{"items", A{O{{"imageId", ami}, {"minCount", 2}, {"maxCount", 2}, {"keyName", "ops-recovery"}}}}}},
			{"instanceType", "p3.16xlarge"},
			{"blockDeviceMapping", O{}},
			{"monitoring", O{{"enabled", false}}},
			{"disableApiTermination", false},
			{"disableApiStop", false},
			{"clientToken", g.uuid()},
			{"networkInterfaceSet", O{{"items", A{O{{"deviceIndex", 0}, {"subnetId", gpuSubnet}, {"associatePublicIpAddress", true},
				{"groupSet", O{{"items", A{O{{"groupId", gpuSG}}}}}}}}}}},
		},
		resp: O{
			{"requestId", g.uuid()}, {"reservationId", "r-0e2f4a6c8b1d3f5a7"}, {"ownerId", account},
			{"groupSet", O{}},
			{"instancesSet", O{{"items", A{
				inst(gpuID, gpuIP, gpuENI, "02:4f:1a:9c:3e:71", 0),
				inst(gpuID2, gpuIP2, gpuENI2, "02:4f:1a:7b:2d:05", 1),
			}}}},
		},
	}
}

func dashIP(ip string) string {
	b := []byte(ip)
	for i, c := range b {
		if c == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

// ctBackground returns the ordinary activity of the account.
func ctBackground(g *gen) []ct {
	var out []ct
	start, end := at(9, 0, 0, 0), at(11, 0, 0, 0)

	nodeRole := role{name: "acme-prod-eks-node", id: "AROAQX4MCTRNNODE00001", key: "ASIAQX4MCTRN" + g.alnum(8, upperDigits), since: at(8, 41, 7, 0)}
	nodes := []struct{ id, ip string }{
		{"i-05d3c1b9a7e5f3d1b", "10.0.21.15"}, {"i-07a9b8c6d4e2f0a1c", "10.0.22.31"}, {"i-0b1c2d3e4f5a6b7c8", "10.0.23.47"},
	}
	cni := role{name: "acme-prod-vpc-cni", id: "AROAQX4MCTRNCNI00001", session: "1773477211830214017", key: "ASIAQX4MCTRN" + g.alnum(8, upperDigits), web: "arn:aws:iam::" + account + ":oidc-provider/oidc.eks." + region + ".amazonaws.com/id/5C1B6E0F0A1C4D2E8F3A9B7C6D5E4F30", since: at(8, 53, 31, 0)}
	cas := role{name: "acme-prod-cluster-autoscaler", id: "AROAQX4MCTRNCAS00001", session: "1773477455120448311", key: "ASIAQX4MCTRN" + g.alnum(8, upperDigits), web: cni.web, since: at(8, 57, 35, 0)}
	app := role{name: "payments-api", id: "AROAQX4MCTRNPAY00001", session: "1773477020515561920", key: "ASIAQX4MCTRN" + g.alnum(8, upperDigits), web: cni.web, since: at(8, 50, 20, 0)}
	lambda := role{name: "report-exporter-exec", id: "AROAQX4MCTRNLMB00001", session: "report-exporter", key: "", since: start}
	vpceS3 := "vpce-0a9b8c7d6e5f4a3b2"

	// Instance profile credential refreshes for the EKS nodes.
	for _, n := range nodes {
		for t := start.Add(time.Duration(g.between(60, 600)) * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(1500, 2100)) * time.Second) {
			out = append(out, assumeRoleBySvc(g, t, "ec2.amazonaws.com", nodeRole.arn(), n.id))
		}
	}
	// Lambda execution role every quarter hour, then the export it writes.
	for t := at(9, 0, 2, 0); t.Before(end); t = t.Add(15 * time.Minute) {
		tt := g.jitter(t, 900)
		out = append(out, assumeRoleBySvc(g, tt, "lambda.amazonaws.com", lambda.arn(), "report-exporter"))
		l := lambda
		l.key = "ASIAQX4MCTRN" + g.alnum(8, upperDigits)
		l.since = tt
		key := fmt.Sprintf("exports/2026/03/14/settlements-%s.csv", tt.Format("1504"))
		out = append(out, s3Obj(g, tt.Add(time.Duration(g.between(2, 9))*time.Second), l, "PutObject", "acme-payments-reports", key, "3.251.110.41", uaBoto, ""))
	}
	// The payments API reads and writes objects through the S3 gateway endpoint.
	for t := start.Add(47 * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(35, 100)) * time.Second) {
		n := pick(g, nodes)
		if g.chance(0.7) {
			key := fmt.Sprintf("statements/%s/%06d.pdf", pick(g, []string{"2026-02", "2026-03"}), g.intn(999999))
			out = append(out, s3Obj(g, t, app, "GetObject", "acme-payments-statements", key, n.ip, uaS3App, vpceS3))
		} else {
			key := fmt.Sprintf("receipts/2026/03/14/%s.json", g.uuid())
			out = append(out, s3Obj(g, t, app, "PutObject", "acme-payments-statements", key, n.ip, uaS3App, vpceS3))
		}
	}
	// VPC CNI and cluster autoscaler polling.
	for t := start.Add(20 * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(240, 420)) * time.Second) {
		n := pick(g, nodes)
		out = append(out, ct{t: t, region: region, source: "ec2.amazonaws.com", name: "DescribeNetworkInterfaces",
			who: cni.identity(), ip: n.ip, ua: uaCNI, readOnly: true, tlsHost: host("ec2", region),
			req: O{{"networkInterfaceIdSet", O{}}, {"filterSet", O{{"items", A{O{{"name", "attachment.instance-id"}, {"valueSet", O{{"items", A{O{{"value", n.id}}}}}}}}}}}}})
	}
	for t := start.Add(95 * time.Second); t.Before(end); t = t.Add(time.Duration(g.between(500, 700)) * time.Second) {
		out = append(out, ct{t: t, region: region, source: "autoscaling.amazonaws.com", name: "DescribeAutoScalingGroups",
			who: cas.identity(), ip: "10.0.22.31", ua: uaAutoscaler, readOnly: true, tlsHost: host("autoscaling", region),
			req: O{{"maxRecords", 100}, {"filters", A{O{{"name", "tag-key"}, {"values", A{"k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/" + cluster}}}}}}})
		out = append(out, ct{t: t.Add(time.Duration(g.between(300, 900)) * time.Millisecond), region: region, source: "ec2.amazonaws.com", name: "DescribeLaunchTemplateVersions",
			who: cas.identity(), ip: "10.0.22.31", ua: uaAutoscaler, readOnly: true, tlsHost: host("ec2", region),
			req: O{{"DescribeLaunchTemplateVersionsRequest", O{{"LaunchTemplateId", "lt-0d4e5f6a7b8c9d0e1"}, {"LaunchTemplateVersion", O{{"content", "$Latest"}, {"tag", 1}}}}}}})
	}
	// Nodes pull images from ECR.
	for t := start.Add(3 * time.Minute); t.Before(end); t = t.Add(time.Duration(g.between(600, 1100)) * time.Second) {
		n := pick(g, nodes)
		r := nodeRole
		r.session = n.id
		out = append(out, ecr(g, t, r, n.ip, "GetAuthorizationToken", true, O{{"registryIds", A{account}}}))
		out = append(out, ecr(g, t.Add(2*time.Second), r, n.ip, "BatchGetImage", true,
			O{{"imageIds", A{O{{"imageTag", "v2.14.3"}}}}, {"acceptedMediaTypes", A{"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"}}, {"repositoryName", pick(g, []string{"payments-api", "ledger-worker", "web-frontend"})}, {"registryId", account}}))
		out = append(out, ecr(g, t.Add(3*time.Second), r, n.ip, "GetDownloadUrlForLayer", true,
			O{{"repositoryName", "payments-api"}, {"registryId", account}, {"layerDigest", "sha256:" + g.hex(64)}}))
	}
	// CI pipelines: web identity federation from GitLab, push an image,
	// store artefacts, look at the cluster.
	for _, t := range []time.Time{at(9, 8, 14, 0), at(9, 27, 40, 0), at(9, 52, 5, 0), at(10, 18, 33, 0), at(10, 41, 2, 0)} {
		out = append(out, ciPipeline(g, t)...)
	}
	// Engineers sign in with MFA and look around.
	engs := []engineer{
		{name: "alice.martin", id: "AIDAQX4MCTRNALICE001", ip: officeIP1, ua: uaChromeMac, since: at(9, 4, 51, 0)},
		{name: "bob.nguyen", id: "AIDAQX4MCTRNBOBNG001", ip: officeIP2, ua: uaChromeWin, since: at(9, 38, 12, 0)},
		{name: "carol.smith", id: "AIDAQX4MCTRNCAROL001", ip: officeIP1, ua: uaChromeMac, since: at(10, 22, 40, 0)},
	}
	for _, e := range engs {
		e.key = "ASIAQX4MCTRN" + g.alnum(8, upperDigits)
		out = append(out, engineerSession(g, e)...)
	}
	return out
}

func assumeRoleBySvc(g *gen, t time.Time, svc, roleArn, session string) ct {
	name := roleArn[len("arn:aws:iam::"+account+":role/"):]
	return ct{
		t: t, region: region, source: "sts.amazonaws.com", name: "AssumeRole", who: service(svc),
		ip: svc, ua: svc, readOnly: true, tlsHost: host("sts", region),
		req: O{{"roleArn", roleArn}, {"roleSessionName", session}},
		resp: O{
			{"credentials", O{{"accessKeyId", "ASIAQX4MCTRN" + g.alnum(8, upperDigits)}, {"sessionToken", "IQoJb3JpZ2luX2VjE" + g.alnum(40, mixed)}, {"expiration", awsDate(t.Add(6 * time.Hour))}}},
			{"assumedRoleUser", O{{"assumedRoleId", "AROAQX4MCTRN" + g.alnum(8, upperDigits) + ":" + session}, {"arn", "arn:aws:sts::" + account + ":assumed-role/" + name + "/" + session}}},
		},
		resources: A{O{{"accountId", account}, {"type", "AWS::IAM::Role"}, {"ARN", roleArn}}},
		shared:    g.uuid(),
	}
}

func s3Obj(g *gen, t time.Time, r role, name, bucket, key, ip, ua, vpce string) ct {
	req := O{{"bucketName", bucket}, {"Host", bucket + ".s3." + region + ".amazonaws.com"}, {"key", key}}
	var resp any
	in, out := 0, g.between(2000, 400000)
	if name == "PutObject" {
		in, out = g.between(300, 90000), 0
		req = append(req, F{"x-amz-server-side-encryption", "aws:kms"})
		resp = O{{"x-amz-server-side-encryption", "aws:kms"}, {"x-amz-server-side-encryption-aws-kms-key-id", "arn:aws:kms:" + region + ":" + account + ":key/8f2c1d3e-4b5a-4c6d-9e7f-0a1b2c3d4e5f"}}
	}
	return ct{
		t: t, region: region, source: "s3.amazonaws.com", name: name, who: r.identity(), ip: ip, ua: ua,
		req: req, resp: resp, readOnly: name == "GetObject", data: true, vpce: vpce,
		extra: O{{"SignatureVersion", "SigV4"}, {"CipherSuite", "TLS_AES_128_GCM_SHA256"}, {"bytesTransferredIn", in},
			{"AuthenticationMethod", "AuthHeader"}, {"x-amz-id-2", g.alnum(60, mixed)}, {"bytesTransferredOut", out}},
		resources: A{
			O{{"type", "AWS::S3::Object"}, {"ARN", "arn:aws:s3:::" + bucket + "/" + key}},
			O{{"accountId", account}, {"type", "AWS::S3::Bucket"}, {"ARN", "arn:aws:s3:::" + bucket}},
		},
		tlsHost: bucket + ".s3." + region + ".amazonaws.com",
	}
}

func ecr(g *gen, t time.Time, r role, ip, name string, ro bool, req any) ct {
	return ct{t: t, region: region, source: "ecr.amazonaws.com", name: name, who: r.identity(), ip: ip,
		ua: uaKubelet, req: req, readOnly: ro, vpce: "vpce-0c1d2e3f4a5b6c7d8", tlsHost: "api.ecr." + region + ".amazonaws.com",
		resources: A{O{{"accountId", account}, {"ARN", "arn:aws:ecr:" + region + ":" + account + ":repository/payments-api"}}}}
}

func ciPipeline(g *gen, t time.Time) []ct {
	sess := "GitLabRunner-" + fmt.Sprint(g.between(1000000, 9999999))
	r := role{name: "gitlab-ci-deployer", id: "AROAQX4MCTRNCIDEP001", session: sess, key: "ASIAQX4MCTRN" + g.alnum(8, upperDigits),
		web: "arn:aws:iam::" + account + ":oidc-provider/gitlab.example.com", since: t}
	sub := "project_path:platform/payments-api:ref_type:branch:ref:main"
	var out []ct
	out = append(out, ct{
		t: t, region: region, source: "sts.amazonaws.com", name: "AssumeRoleWithWebIdentity",
		who: O{{"type", "WebIdentityUser"}, {"principalId", "gitlab.example.com:https://gitlab.example.com:" + sub}, {"userName", sub}, {"identityProvider", "gitlab.example.com"}},
		ip:  ciNatIP, ua: uaCIcli + "sts.assume-role-with-web-identity", readOnly: true, tlsHost: host("sts", region),
		req: O{{"roleArn", r.arn()}, {"roleSessionName", sess}, {"durationSeconds", 3600}},
		resp: O{
			{"credentials", O{{"accessKeyId", r.key}, {"sessionToken", "IQoJb3JpZ2luX2VjE" + g.alnum(40, mixed)}, {"expiration", awsDate(t.Add(time.Hour))}}},
			{"subjectFromWebIdentityToken", sub},
			{"assumedRoleUser", O{{"assumedRoleId", r.id + ":" + sess}, {"arn", "arn:aws:sts::" + account + ":assumed-role/" + r.name + "/" + sess}}},
			{"provider", "arn:aws:iam::" + account + ":oidc-provider/gitlab.example.com"},
			{"audience", "https://gitlab.example.com"},
		},
		resources: A{O{{"accountId", account}, {"type", "AWS::IAM::Role"}, {"ARN", r.arn()}}},
	})
	step := func(d int, svc, name, cmd string, ro bool, req, resp any) {
		out = append(out, ct{t: t.Add(time.Duration(d) * time.Second), region: region, source: svc + ".amazonaws.com", name: name,
			who: r.identity(), ip: ciNatIP, ua: uaCIcli + cmd, req: req, resp: resp, readOnly: ro, tlsHost: host(svc, region)})
	}
	tag := g.hex(8)
	step(4, "ecr", "GetAuthorizationToken", "ecr.get-login-password", true, O{{"registryIds", A{account}}}, nil)
	step(41, "ecr", "InitiateLayerUpload", "", false, O{{"repositoryName", "payments-api"}, {"registryId", account}}, O{{"uploadId", g.uuid()}, {"partSize", 10485760}})
	step(44, "ecr", "CompleteLayerUpload", "", false, O{{"repositoryName", "payments-api"}, {"registryId", account}, {"uploadId", g.uuid()}, {"layerDigests", A{"sha256:" + g.hex(64)}}}, nil)
	step(47, "ecr", "PutImage", "", false, O{{"repositoryName", "payments-api"}, {"registryId", account}, {"imageTag", tag}, {"imageManifestMediaType", "application/vnd.oci.image.manifest.v1+json"}}, O{{"image", O{{"registryId", account}, {"repositoryName", "payments-api"}, {"imageId", O{{"imageDigest", "sha256:" + g.hex(64)}, {"imageTag", tag}}}}}})
	step(55, "eks", "DescribeCluster", "eks.update-kubeconfig", true, O{{"name", cluster}}, nil)
	r2 := r
	out = append(out, s3Obj(g, t.Add(62*time.Second), r2, "PutObject", "acme-ci-artifacts", "payments-api/"+tag+"/sbom.spdx.json", ciNatIP, uaCIcli+"s3.cp", ""))
	return out
}

func engineerSession(g *gen, e engineer) []ct {
	var out []ct
	out = append(out, ct{
		t: e.since, region: "us-east-1", source: "signin.amazonaws.com", name: "ConsoleLogin",
		who: O{{"type", "IAMUser"}, {"principalId", e.id}, {"arn", "arn:aws:iam::" + account + ":user/" + e.name}, {"accountId", account}, {"userName", e.name}},
		ip:  e.ip, ua: e.ua, resp: O{{"ConsoleLogin", "Success"}},
		extra: O{{"LoginTo", "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_eu-west-1_" + g.hex(16)},
			{"MobileVersion", "No"}, {"MFAIdentifier", "arn:aws:iam::" + account + ":mfa/" + e.name}, {"MFAUsed", "Yes"}},
		eventType: "AwsConsoleSignIn", noReqID: true, tlsHost: "eu-west-1.signin.aws.amazon.com",
	})
	calls := []struct {
		svc, name string
		req       any
	}{
		{"ec2", "DescribeInstances", O{{"instancesSet", O{}}, {"filterSet", O{}}}},
		{"ec2", "DescribeSecurityGroups", O{{"securityGroupSet", O{}}, {"securityGroupIdSet", O{}}, {"filterSet", O{}}}},
		{"ec2", "DescribeVpcs", O{{"vpcSet", O{}}, {"filterSet", O{}}}},
		{"ec2", "DescribeInstanceStatus", O{{"instancesSet", O{}}, {"filterSet", O{}}, {"includeAllInstances", false}}},
		{"monitoring", "DescribeAlarms", O{{"maxRecords", 100}}},
		{"monitoring", "GetMetricData", O{{"startTime", "Mar 14, 2026 6:00:00 AM"}, {"endTime", "Mar 14, 2026 9:00:00 AM"}}},
		{"logs", "DescribeLogGroups", O{{"limit", 50}}},
		{"eks", "ListClusters", nil},
		{"eks", "DescribeCluster", O{{"name", cluster}}},
		{"lambda", "ListFunctions20150331", nil},
		{"rds", "DescribeDBInstances", nil},
		{"s3", "GetBucketLocation", O{{"bucketName", "acme-payments-reports"}, {"Host", "acme-payments-reports.s3." + region + ".amazonaws.com"}, {"location", ""}}},
	}
	t := e.since.Add(20 * time.Second)
	n := g.between(22, 34)
	for range n {
		if !t.Before(at(10, 59, 0, 0)) {
			break
		}
		c := pick(g, calls)
		out = append(out, ct{t: t, region: region, source: c.svc + ".amazonaws.com", name: c.name, who: e.identity(),
			ip: e.ip, ua: "AWS Internal", req: c.req, readOnly: true, tlsHost: host(c.svc, region), fromConsole: true})
		t = t.Add(time.Duration(g.between(15, 240)) * time.Second)
	}
	return out
}
