package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/ingest"
	"github.com/vigilsec/vigil/storage"
	"github.com/vigilsec/vigil/storage/batch"
)

// ClickHouse 18.16 wants the columns of an INSERT named.
const (
	insertEvents = "INSERT INTO " + storage.EventsTable + ` (event_id, event_time, ingest_time, log_type, source,
 account, region, actor, action, target, src_ip, dst_ip, src_port, dst_port, protocol, outcome, user_agent, raw)`
	insertAlerts = "INSERT INTO " + storage.AlertsTable + ` (alert_id, rule_id, title, severity, summary, group_key,
 first_time, last_time, count, event_ids, tags, rule_version, log_type, created_time, mode)`
)

// The range of ClickHouse's DateTime.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(2105, 12, 31, 23, 59, 59, 0, time.UTC)
)

func checkTime(what string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s %s outside ClickHouse's DateTime range (1970 to 2105)", what, t.UTC().Format(time.RFC3339))
	}
	return nil
}

func checkPort(what string, p int) error {
	if p < 0 || p > 65535 {
		return fmt.Errorf("%s %d outside 0..65535", what, p)
	}
	return nil
}

// eventTime is e's time as stored: a zero Time (unknown) becomes
// 1970-01-01 00:00:00, DateTime's zero.
func eventTime(e *ingest.Event) time.Time {
	if e.Time.IsZero() {
		return minTime
	}
	return e.Time
}

func checkEvent(e *ingest.Event) error {
	if e.ID == "" {
		return errors.New("event without an ID")
	}
	return errors.Join(checkTime("event time", eventTime(e)),
		checkPort("source port", e.Norm.SrcPort), checkPort("destination port", e.Norm.DstPort))
}

func checkAlert(a *detect.Alert) error {
	if a.AlertID == "" {
		return errors.New("alert without an ID")
	}
	if a.Count < 0 || a.RuleVersion < 0 {
		return fmt.Errorf("negative count %d or rule version %d", a.Count, a.RuleVersion)
	}
	return errors.Join(checkTime("first time", a.FirstTime), checkTime("last time", a.LastTime))
}

// InsertEvents writes evs as one INSERT and returns once the server
// accepted them. An unknown (zero) event time is stored as 1970-01-01.
// Rows the store cannot hold (no ID, a time outside 1970 to 2105, a port
// outside 0..65535) and data errors from the server are
// marked batch.Permanent, so a batch.Writer isolates them; other errors
// are worth retrying. InsertEvents has the shape of a batch flush function.
func (s *Store) InsertEvents(ctx context.Context, evs []*ingest.Event) error {
	if len(evs) == 0 {
		return nil
	}
	n := len(evs)
	var (
		ids, logTypes, sources, accounts, regions = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		actors, actions, targets, srcIPs, dstIPs  = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		protocols, outcomes, userAgents           = make([]string, n), make([]string, n), make([]string, n)
		eventTimes, ingestTimes                   = make([]time.Time, n), make([]time.Time, n)
		srcPorts, dstPorts                        = make([]uint16, n), make([]uint16, n)
		raws                                      = make([][]byte, n)
		now                                       = s.now().UTC()
	)
	for i, e := range evs {
		if err := checkEvent(e); err != nil {
			return batch.Permanent(fmt.Errorf("clickhouse: event %q: %w", e.ID, err))
		}
		ids[i], eventTimes[i], ingestTimes[i] = e.ID, eventTime(e), now
		logTypes[i], sources[i], raws[i] = e.Type, e.Source, e.Raw
		m := &e.Norm
		accounts[i], regions[i], actors[i], actions[i], targets[i] = m.Account, m.Region, m.Actor, m.Action, m.Target
		srcIPs[i], dstIPs[i], srcPorts[i], dstPorts[i] = m.SrcIP, m.DstIP, uint16(m.SrcPort), uint16(m.DstPort)
		protocols[i], outcomes[i], userAgents[i] = m.Protocol, m.Outcome, m.UserAgent
	}
	return s.send(ctx, insertEvents, ids, eventTimes, ingestTimes, logTypes, sources, accounts, regions,
		actors, actions, targets, srcIPs, dstIPs, srcPorts, dstPorts, protocols, outcomes, userAgents, raws)
}

// InsertAlerts writes alerts as one INSERT and returns once the server
// accepted them; errors are classified as for InsertEvents. Writing an
// alert again with a higher count replaces it.
func (s *Store) InsertAlerts(ctx context.Context, alerts []*detect.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	n := len(alerts)
	var (
		ids, ruleIDs, titles, severities   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		summaries, groupKeys, logTypes     = make([]string, n), make([]string, n), make([]string, n)
		modes                              = make([]string, n)
		firstTimes, lastTimes, createTimes = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		counts                             = make([]uint64, n)
		eventIDs, tags                     = make([][]string, n), make([][]string, n)
		ruleVersions                       = make([]uint32, n)
		now                                = s.now().UTC()
	)
	for i, a := range alerts {
		if err := checkAlert(a); err != nil {
			return batch.Permanent(fmt.Errorf("clickhouse: alert %q: %w", a.AlertID, err))
		}
		ids[i], ruleIDs[i], titles[i], severities[i] = a.AlertID, a.RuleID, a.Title, a.Severity
		summaries[i], groupKeys[i], logTypes[i] = a.Summary, a.GroupKey, a.LogType
		firstTimes[i], lastTimes[i], createTimes[i] = a.FirstTime, a.LastTime, now
		counts[i], ruleVersions[i] = uint64(a.Count), uint32(a.RuleVersion)
		eventIDs[i], tags[i] = nonNil(a.EventIDs), nonNil(a.Tags)
		modes[i] = a.StoredMode()
	}
	return s.send(ctx, insertAlerts, ids, ruleIDs, titles, severities, summaries, groupKeys,
		firstTimes, lastTimes, counts, eventIDs, tags, ruleVersions, logTypes, createTimes, modes)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// send runs one INSERT of the given columns, in the statement's order.
func (s *Store) send(ctx context.Context, insert string, columns ...any) error {
	ctx, done := guard(ctx)
	defer done()
	b, err := s.conn.PrepareBatch(ctx, insert)
	if err != nil {
		return classify(fmt.Errorf("clickhouse: preparing insert: %w", err))
	}
	defer b.Close()
	for i, col := range columns {
		if err := b.Column(i).Append(col); err != nil {
			return batch.Permanent(fmt.Errorf("clickhouse: insert column %d: %w", i, err))
		}
	}
	if err := b.Send(); err != nil {
		return classify(fmt.Errorf("clickhouse: insert: %w", err))
	}
	return nil
}

// permanentCodes are server error codes for data that no retry of the same
// rows can fix.
var permanentCodes = map[int32]bool{
	6:   true, // CANNOT_PARSE_TEXT
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	38:  true, // CANNOT_PARSE_DATE
	41:  true, // CANNOT_PARSE_DATETIME
	53:  true, // TYPE_MISMATCH
	69:  true, // ARGUMENT_OUT_OF_BOUND
	70:  true, // CANNOT_CONVERT_TYPE
	72:  true, // CANNOT_PARSE_NUMBER
	131: true, // TOO_LARGE_STRING_SIZE
	321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
}

// classify marks err permanent when the server rejected the data itself.
func classify(err error) error {
	var exc *ch.Exception
	if errors.As(err, &exc) && permanentCodes[exc.Code] {
		return batch.Permanent(err)
	}
	return err
}
