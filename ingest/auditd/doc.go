// Package auditd decodes raw Linux audit logs, the lines auditd writes to
// /var/log/audit/audit.log (and that log shippers such as the CloudWatch
// agent forward unchanged), into vigil Events.
//
// A line is one record:
//
//	[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): key=value ...
//
// The records of one audit event share (node, timestamp, serial) and are
// coalesced into a single Event: SYSCALL with its EXECVE, CWD, PATH,
// PROCTITLE, SOCKADDR… records. Records of different events may be
// interleaved and out of order. An event is complete when its EOE record
// arrives; the record types that user-space programs send, which are always
// alone (USER_*, CRED_*, ADD_/DEL_USER, ADD_/DEL_GROUP, GRP_*, ACCT_LOCK,
// ACCT_UNLOCK, SERVICE_START/STOP, SYSTEM_BOOT/SHUTDOWN/RUNLEVEL, DAEMON_*,
// CRYPTO_KEY_USER, CRYPTO_SESSION, ANOM_LOGIN_*, USYS_CONFIG, CHUSER_ID,
// CHGRP_ID, SOFTWARE_UPDATE), are emitted at once; any other event is emitted when it falls out of the reorder window
// (Config.ReorderWindow serials or Config.MaxAge of audit time behind the
// newest record), when more than Config.MaxOpen events are open (oldest
// first), or at the end of the stream. A record arriving after its event was
// emitted is reported as malformed rather than becoming a second event with
// the same ID.
//
// Values are decoded as the kernel encodes them: "quoted", or hex when the
// string holds a space, quote or control character. Hex is decoded only for
// the untrusted-string keys (comm, exe, cwd, name, proctitle, key, acct,
// cmd, EXECVE arguments, …), never for numbers such as pid, uid, arch or the
// SYSCALL a0..a3 pointers. "(null)" means absent. The single-quoted msg='…'
// of user-space records is parsed into the record's own pairs.
//
// Event.Fields holds the pairs of the primary record (SYSCALL if present,
// else the first record) at the top level, plus:
//
//	type      primary record type ("SYSCALL", "USER_LOGIN", …)
//	types     all record types, in input order (EOE excluded)
//	records   record type → list of every record's pairs, as logged
//	          (decoded; SYSCALL's syscall stays a number there)
//	syscall   the syscall name for arch x86_64 and aarch64, else its number
//	key       the rule key (a stray "key=" prefix of old auditctl removed);
//	          keys lists all keys when several are joined by 0x01
//	argv      EXECVE arguments (chunked aN[i] arguments joined)
//	cmdline   argv joined by spaces, else the proctitle
//	proctitle PROCTITLE, NUL separators as spaces
//	cwd       from CWD
//	paths     the name of every PATH record, "" for one without a name, so
//	          paths[i] belongs to records.PATH[i]
//	sockaddr  the first decoded SOCKADDR: saddr_fam, laddr, lport or path
//	node      the node= prefix, when present
//	sequence  the serial, as an int
//
// Records of type SOCKADDR also get saddr_fam, laddr, lport or path decoded
// from saddr; AVC and USER_AVC records get seresult and seperms.
//
// Event.ID is StableID("auditd", node, "SECONDS.MILLIS:SERIAL"), Event.Time
// the audit timestamp, Event.Raw the event's lines joined by "\n" in input
// order. Event.Norm holds:
//
//	Actor    "auid=N" when the login uid is set (not 4294967295), else
//	         "uid=N"; then "(name)" when the ENRICHED format names it
//	         (AUID=/UID=), then " acct=NAME" when the record names an account
//	         (user-space records): "auid=1000(alice)", "uid=0 acct=root"
//	Action   the syscall name (or number) for SYSCALL events, else the type
//	Target   the first PATH name that is not a PARENT item, else the first
//	         PATH name, else exe
//	SrcIP, SrcPort / DstIP, DstPort
//	         the decoded SOCKADDR: source for accept, accept4, bind and
//	         recv*, destination otherwise; else addr= (user-space records)
//	         as the source
//	Outcome  "success"/"failure" from success=yes/no, else from
//	         res=success|yes|1 / failed|failure|no|0
package auditd
