// Package ops is what operators see of a running vigil: the Prometheus
// metrics (Metrics, with collectors that read the stages' own counters at
// scrape time), the HTTP endpoints /metrics, /healthz and /readyz (Handler,
// Serve), and the process log (NewLogger, with a rate limit on repeated
// warnings and errors).
//
// Metric names follow vigil_<subsystem>_<what>_total for counters and
// _seconds for durations; Names lists every family, and the Grafana
// dashboard in deploy/grafana is tested against it.
package ops
