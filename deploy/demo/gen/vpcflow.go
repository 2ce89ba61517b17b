package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// iface is an elastic network interface that flow logs report on.
type iface struct {
	eni, ip, instance, subnet, az string
}

var (
	ifNode1   = iface{"eni-0a1b11c2d3e4f5a61", "10.0.21.15", "i-05d3c1b9a7e5f3d1b", "subnet-0a21b2c3d4e5f6a71", "euw1-az1"}
	ifNode2   = iface{"eni-0a1b22c3d4e5f6a72", "10.0.22.31", "i-07a9b8c6d4e2f0a1c", "subnet-0a22b3c4d5e6f7a82", "euw1-az2"}
	ifNode3   = iface{"eni-0a1b33c4d5e6f7a83", "10.0.23.47", "i-0b1c2d3e4f5a6b7c8", "subnet-0a23b4c5d6e7f8a93", "euw1-az3"}
	ifEKS     = iface{"eni-0e4f5a6b7c8d9e0f1", "10.0.21.200", "-", "subnet-0a21b2c3d4e5f6a71", "euw1-az1"}
	ifBastion = iface{"eni-0b10c2d3e4f5a6b71", "10.0.1.10", "i-0d2e3f4a5b6c7d8e9", "subnet-0b01c2d3e4f5a6b70", "euw1-az1"}
	ifMonitor = iface{"eni-0b20c3d4e5f6a7b82", "10.0.1.20", "i-0e3f4a5b6c7d8e9f0", "subnet-0b01c2d3e4f5a6b70", "euw1-az1"}
	ifNAT     = iface{"eni-0b15c0d4e5f6a7b93", "10.0.1.150", "-", "subnet-0b01c2d3e4f5a6b70", "euw1-az1"}
	ifRDS     = iface{"eni-0d05e6f7a8b9c0d14", "10.0.31.5", "-", "subnet-0d31e2f3a4b5c6d75", "euw1-az1"}
	ifGPU1    = iface{gpuENI, gpuIP, gpuID, gpuSubnet, "euw1-az1"}
	ifGPU2    = iface{gpuENI2, gpuIP2, gpuID2, gpuSubnet, "euw1-az1"}
	nodeIfs   = []iface{ifNode1, ifNode2, ifNode3}
	corednsIP = []string{"10.0.21.88", "10.0.22.140"}
	podIPs    = []string{"10.0.21.61", "10.0.21.93", "10.0.22.17", "10.0.22.204", "10.0.23.12", "10.0.23.158"}
	// Public HTTPS endpoints the workloads talk to (AWS APIs, S3, GitHub,
	// package mirrors, CDNs).
	httpsDst = []string{"52.218.104.91", "3.5.64.171", "52.95.150.6", "54.239.36.18", "99.83.176.200",
		"18.200.212.79", "34.243.61.117", "140.82.121.4", "151.101.2.132", "104.16.27.34", "172.64.145.16", "52.94.216.33"}
)

// flow is one flow log record before formatting.
type flow struct {
	start, end     int64
	on             iface
	src, dst       string
	sport, dport   int
	proto          int
	packets, bytes int
	action         string
	status         string // OK, NODATA
	egress         bool
	flags          int
}

// writeVPCFlow adds the default-format flow log objects of the VPC-wide
// flow log and the custom v5 object of the subnet-level flow log that the
// attacker deletes.
func writeVPCFlow(g *gen, files map[string][]byte) error {
	var flows []flow
	for w := at(9, 0, 0, 0); w.Before(at(11, 0, 0, 0)); w = w.Add(10 * time.Minute) {
		flows = append(flows, vpcBackground(g, w)...)
	}
	flows = append(flows, vpcAttack(g)...)
	sort.SliceStable(flows, func(i, j int) bool {
		if flows[i].start != flows[j].start {
			return flows[i].start < flows[j].start
		}
		return flows[i].on.eni < flows[j].on.eni
	})

	// Default format (v2), delivered to S3 per time slice.
	slices := []struct {
		from, to time.Time
		gzip     bool
	}{
		{at(9, 0, 0, 0), at(9, 30, 0, 0), true},
		{at(9, 30, 0, 0), at(10, 15, 0, 0), false},
		{at(10, 15, 0, 0), at(11, 0, 0, 0), false},
	}
	for _, s := range slices {
		var b strings.Builder
		b.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
		for _, f := range flows {
			if f.start < s.from.Unix() || f.start >= s.to.Unix() {
				continue
			}
			b.WriteString(f.v2())
			b.WriteByte('\n')
		}
		name := fmt.Sprintf("vpcflow/%s_vpcflowlogs_%s_%s_%s_%s.log", account, region, flowLogA, s.to.Format("20060102T1504Z"), g.hex(8))
		if s.gzip {
			z, err := gz([]byte(b.String()))
			if err != nil {
				return err
			}
			files[name+".gz"] = z
			continue
		}
		files[name] = []byte(b.String())
	}

	// The security team's subnet-level log on the EKS node subnets, custom
	// format (v5 fields). It stops when the attacker deletes it at 09:21:30.
	var b strings.Builder
	b.WriteString("version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path\n")
	for _, f := range flows {
		if !strings.HasPrefix(f.on.subnet, "subnet-0a2") || f.start >= at(9, 20, 0, 0).Unix() {
			continue
		}
		b.WriteString(f.v5())
		b.WriteByte('\n')
	}
	files[fmt.Sprintf("vpcflow/%s_vpcflowlogs_%s_%s_%s_%s.log", account, region, flowLogB, "20260314T0925Z", g.hex(8))] = []byte(b.String())
	return nil
}

func (f flow) v2() string {
	if f.status == "NODATA" {
		return fmt.Sprintf("2 %s %s - - - - - - - %d %d - NODATA", account, f.on.eni, f.start, f.end)
	}
	return fmt.Sprintf("2 %s %s %s %s %d %d %d %d %d %d %d %s OK",
		account, f.on.eni, f.src, f.dst, f.sport, f.dport, f.proto, f.packets, f.bytes, f.start, f.end, f.action)
}

func (f flow) v5() string {
	if f.status == "NODATA" {
		return fmt.Sprintf("5 %s %s %s %s %s - - - - - - - - - - %d %d - - NODATA %s %s - - - - - -",
			vpcID, f.on.subnet, f.on.instance, f.on.eni, account, f.start, f.end, region, f.on.az)
	}
	dir, path := "ingress", "-"
	if f.egress {
		dir, path = "egress", "1"
	}
	flags := "0"
	if f.proto == 6 {
		flags = fmt.Sprint(f.flags)
	}
	return fmt.Sprintf("5 %s %s %s %s %s IPv4 %s %s %d %d %s %s %d %d %d %d %d %s %s OK %s %s - - %s %s %s %s",
		vpcID, f.on.subnet, f.on.instance, f.on.eni, account, f.src, f.dst, f.sport, f.dport, f.src, f.dst,
		f.proto, f.bytes, f.packets, f.start, f.end, f.action, flags, region, f.on.az,
		awsService(f.src), awsService(f.dst), dir, path)
}

// awsService names the AWS service owning a public address, as flow logs
// report it in pkt-src-aws-service / pkt-dst-aws-service.
func awsService(ip string) string {
	switch {
	case strings.HasPrefix(ip, "52.218.") || strings.HasPrefix(ip, "3.5."):
		return "S3"
	case strings.HasPrefix(ip, "52.9") || strings.HasPrefix(ip, "54.239.") || strings.HasPrefix(ip, "99.83.") ||
		strings.HasPrefix(ip, "18.200.") || strings.HasPrefix(ip, "34.243."):
		return "AMAZON"
	}
	return "-"
}

// conn returns the two records (request and response direction) of one
// TCP or UDP conversation seen on the interface on, within window w.
func (g *gen) conn(w time.Time, on iface, src, dst string, sport, dport, proto int, pk, by int, egress bool) []flow {
	s := w.Unix() + int64(g.between(0, 300))
	e := s + int64(g.between(1, 599-int(s-w.Unix())))
	rp := pk - g.between(0, pk/3+1)
	if rp < 1 {
		rp = 1
	}
	f1 := flow{start: s, end: e, on: on, src: src, dst: dst, sport: sport, dport: dport, proto: proto,
		packets: pk, bytes: by, action: "ACCEPT", status: "OK", egress: egress, flags: 3}
	f2 := flow{start: s, end: e, on: on, src: dst, dst: src, sport: dport, dport: sport, proto: proto,
		packets: rp, bytes: by/2 + g.between(40, 4000), action: "ACCEPT", status: "OK", egress: !egress, flags: 19}
	return []flow{f1, f2}
}

// eph returns an ephemeral port. Ports that miner lists name (45560, 45700)
// are skipped so that ordinary return traffic never looks like mining.
func (g *gen) eph() int {
	for {
		p := g.between(32768, 60999)
		if p != 45560 && p != 45700 {
			return p
		}
	}
}

// scannerIP returns a public address that looks like internet background
// radiation (no documentation or private ranges).
func (g *gen) scannerIP() string {
	first := []int{45, 61, 80, 89, 91, 92, 103, 109, 118, 139, 141, 162, 167, 176, 179, 185, 193, 194, 212, 218, 222}
	return fmt.Sprintf("%d.%d.%d.%d", pick(g, first), g.between(1, 254), g.between(0, 255), g.between(1, 254))
}

// vpcBackground returns ordinary traffic in the ten-minute window w.
func vpcBackground(g *gen, w time.Time) []flow {
	var out []flow
	gpuUp := !w.Before(at(9, 40, 0, 0))
	for _, n := range nodeIfs {
		for range g.between(2, 3) {
			out = append(out, g.conn(w, n, n.ip, pick(g, httpsDst), g.eph(), 443, 6, g.between(12, 900), g.between(2000, 900000), true)...)
		}
		// Pods resolve names through CoreDNS.
		pod := pick(g, podIPs)
		out = append(out, g.conn(w, n, pod, pick(g, corednsIP), g.eph(), 53, 17, g.between(2, 40), g.between(120, 4000), true)...)
		// Kubelet and the EKS control plane.
		out = append(out, g.conn(w, n, n.ip, ifEKS.ip, g.eph(), 443, 6, g.between(40, 400), g.between(9000, 120000), true)...)
		// Node exporter scraped by the monitoring host.
		out = append(out, g.conn(w, n, ifMonitor.ip, n.ip, g.eph(), 9100, 6, g.between(10, 30), g.between(1800, 9000), false)...)
	}
	// Payments pods talk to PostgreSQL.
	n := pick(g, nodeIfs)
	out = append(out, g.conn(w, n, pick(g, podIPs), ifRDS.ip, g.eph(), 5432, 6, g.between(50, 600), g.between(8000, 400000), true)...)
	if g.chance(0.8) {
		out = append(out, g.conn(w, ifRDS, pick(g, podIPs), ifRDS.ip, g.eph(), 5432, 6, g.between(50, 600), g.between(8000, 400000), false)...)
	} else {
		out = append(out, flow{start: w.Unix() + 1, end: w.Unix() + 599, on: ifRDS, status: "NODATA"})
	}
	// The control plane's interface sees kubelet and webhook calls.
	out = append(out, g.conn(w, ifEKS, ifEKS.ip, pick(g, nodeIfs).ip, g.eph(), 10250, 6, g.between(8, 60), g.between(1500, 30000), true)...)
	// NAT gateway egress to the internet.
	for range g.between(2, 3) {
		src := pick(g, nodeIfs).ip
		out = append(out, g.conn(w, ifNAT, src, pick(g, httpsDst), g.eph(), 443, 6, g.between(12, 900), g.between(2000, 900000), false)...)
	}
	// Monitoring pings the bastion; the bastion reaches out for updates.
	out = append(out, flow{start: w.Unix() + 12, end: w.Unix() + 590, on: ifBastion, src: ifMonitor.ip, dst: ifBastion.ip, proto: 1, packets: 10, bytes: 840, action: "ACCEPT", status: "OK"})
	out = append(out, g.conn(w, ifBastion, ifBastion.ip, pick(g, httpsDst), g.eph(), 443, 6, g.between(10, 60), g.between(1500, 40000), true)...)
	// Internet scanners hit closed ports on public addresses: rejected.
	// Each scanner tries one port, so no source looks like a port sweep.
	ports := []struct{ port, proto int }{{22, 6}, {23, 6}, {445, 6}, {3389, 6}, {5900, 6}, {1433, 6}, {2375, 6}, {9200, 6}, {6379, 6}, {5060, 17}, {161, 17}, {7547, 6}, {2323, 6}}
	targets := []iface{ifBastion}
	if gpuUp {
		targets = append(targets, ifGPU1, ifGPU2)
	}
	for range g.between(2, 4) {
		p := pick(g, ports)
		on := pick(g, targets)
		if on.eni != ifBastion.eni && p.port == 22 {
			continue // the GPU workers' SSH is open; see vpcAttack
		}
		s := w.Unix() + int64(g.between(0, 560))
		out = append(out, flow{start: s, end: s + int64(g.between(0, 30)), on: on, src: g.scannerIP(), dst: on.ip,
			sport: g.eph(), dport: p.port, proto: p.proto, packets: g.between(1, 3), bytes: 40 * g.between(1, 3),
			action: "REJECT", status: "OK", flags: 2})
	}
	if gpuUp && w.After(at(9, 45, 0, 0)) {
		// The GPU instances' SSM agent and the monitoring host's SSH checks.
		for _, gi := range []iface{ifGPU1, ifGPU2} {
			out = append(out, g.conn(w, gi, gi.ip, "52.95.150.6", g.eph(), 443, 6, g.between(10, 40), g.between(3000, 20000), true)...)
		}
		for range 2 {
			out = append(out, g.conn(w, ifGPU1, ifMonitor.ip, ifGPU1.ip, g.eph(), 22, 6, g.between(20, 40), g.between(4000, 9000), false)...)
		}
	}
	return out
}

// vpcAttack returns the flows of step f (and the download in step h).
func vpcAttack(g *gen) []flow {
	var out []flow
	window := func(t time.Time) time.Time { return t.Truncate(10 * time.Minute) }
	pin := func(fs []flow, s, e time.Time) []flow {
		for i := range fs {
			fs[i].start, fs[i].end = s.Unix(), e.Unix()
		}
		return fs
	}
	// SSH from the attacker's address, accepted: one-liner sessions to both
	// instances, then an interactive session to the first until 10:32.
	out = append(out, pin(g.conn(window(at(9, 51, 0, 0)), ifGPU1, attackIP, gpuIP, 51234, 22, 6, 48, 9120, false), at(9, 51, 18, 0), at(9, 51, 36, 0))...)
	out = append(out, pin(g.conn(window(at(9, 53, 0, 0)), ifGPU2, attackIP, gpuIP2, 51302, 22, 6, 46, 8904, false), at(9, 53, 2, 0), at(9, 53, 19, 0))...)
	for w := at(9, 50, 0, 0); w.Before(at(10, 40, 0, 0)); w = w.Add(10 * time.Minute) {
		s, e := w, w.Add(599*time.Second)
		if w.Equal(at(9, 50, 0, 0)) {
			s = at(9, 55, 38, 0)
		}
		if w.Equal(at(10, 30, 0, 0)) {
			e = at(10, 32, 10, 0)
		}
		out = append(out, pin(g.conn(w, ifGPU1, attackIP, gpuIP, 51877, 22, 6, g.between(60, 400), g.between(8000, 60000), false), s, e)...)
	}
	// Opportunistic SSH probes from the internet, accepted now that port 22
	// is open to 0.0.0.0/0.
	out = append(out, pin(g.conn(window(at(10, 7, 0, 0)), ifGPU1, "45.155.204.18", gpuIP, 44120, 22, 6, 14, 2380, false), at(10, 7, 41, 0), at(10, 7, 49, 0))...)
	out = append(out, pin(g.conn(window(at(10, 44, 0, 0)), ifGPU2, "92.118.39.71", gpuIP2, 38702, 22, 6, 12, 2104, false), at(10, 44, 3, 0), at(10, 44, 9, 0))...)
	// Stager download over plain HTTP.
	out = append(out, pin(g.conn(window(at(9, 51, 0, 0)), ifGPU1, gpuIP, stagerIP, 40418, 80, 6, 2210, 3214000, true), at(9, 51, 22, 0), at(9, 51, 29, 0))...)
	out = append(out, pin(g.conn(window(at(9, 53, 0, 0)), ifGPU2, gpuIP2, stagerIP, 40533, 80, 6, 2206, 3213800, true), at(9, 53, 6, 0), at(9, 53, 12, 0))...)
	// Stratum to the pool: first instance on 3333 until the pool drops the
	// connection at 10:18, then on the fallback port 14444; the second
	// instance stays on 3333.
	mine := func(on iface, sport, dport int, from, to time.Time) {
		for w := window(from); w.Before(to); w = w.Add(10 * time.Minute) {
			s, e := w, w.Add(599*time.Second)
			if s.Before(from) {
				s = from
			}
			if e.After(to) {
				e = to
			}
			out = append(out, pin(g.conn(w, on, on.ip, poolIP, sport, dport, 6, g.between(300, 620), g.between(40000, 95000), true), s, e)...)
		}
	}
	mine(ifGPU1, 47512, 3333, at(9, 51, 31, 0), at(10, 18, 4, 0))
	mine(ifGPU1, 47660, 14444, at(10, 18, 9, 0), at(10, 59, 59, 0))
	mine(ifGPU2, 49021, 3333, at(9, 53, 14, 0), at(10, 59, 59, 0))
	return out
}
