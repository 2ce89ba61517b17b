package cloudwatch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// logEvent is one event held by fakeLogs.
type logEvent struct {
	stream, id string
	ts         int64
	msg        string
}

// fakeLogs speaks the documented FilterLogEvents JSON protocol (AWS JSON
// 1.1, X-Amz-Target Logs_20140328.FilterLogEvents): time and stream prefix
// filters, pages of pageSize events with a nextToken, optionally an empty
// page carrying a token before each page, and ThrottlingException replies.
type fakeLogs struct {
	mu       sync.Mutex
	group    string
	events   []logEvent
	pageSize int
	empty    bool // an empty page with a token before each page
	throttle int  // the next throttle calls fail
	calls    int
}

func (f *fakeLogs) add(evs ...logEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, evs...)
	slices.SortStableFunc(f.events, func(a, b logEvent) int { return int(a.ts - b.ts) })
}

type filterRequest struct {
	LogGroupName        string `json:"logGroupName"`
	LogStreamNamePrefix string `json:"logStreamNamePrefix"`
	StartTime           *int64 `json:"startTime"`
	EndTime             *int64 `json:"endTime"`
	NextToken           string `json:"nextToken"`
	Limit               int    `json:"limit"`
}

func (f *fakeLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Errortype", typ)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":%q,"message":%q}`, typ, msg)
	}
	if r.Header.Get("X-Amz-Target") != "Logs_20140328.FilterLogEvents" || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		fail(400, "InvalidParameterException", "unexpected request")
		return
	}
	if f.throttle > 0 {
		f.throttle--
		fail(400, "ThrottlingException", "Rate exceeded")
		return
	}
	var req filterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.LogGroupName != f.group {
		fail(400, "ResourceNotFoundException", "The specified log group does not exist.")
		return
	}
	var match []logEvent
	for _, e := range f.events {
		if (req.StartTime == nil || e.ts >= *req.StartTime) && (req.EndTime == nil || e.ts <= *req.EndTime) &&
			strings.HasPrefix(e.stream, req.LogStreamNamePrefix) {
			match = append(match, e)
		}
	}
	// Tokens: "e<i>" an empty page before position i, "p<i>" the page at i.
	pos, emptyFirst := 0, f.empty
	if tok := req.NextToken; tok != "" {
		n, err := strconv.Atoi(tok[1:])
		if err != nil {
			fail(400, "InvalidParameterException", "bad token")
			return
		}
		pos, emptyFirst = n, tok[0] == 'e'
	}
	out := map[string]any{"searchedLogStreams": []any{}}
	var page []map[string]any
	if emptyFirst && pos < len(match) {
		out["nextToken"] = "p" + strconv.Itoa(pos)
	} else {
		size := f.pageSize
		if req.Limit > 0 && req.Limit < size {
			size = req.Limit
		}
		end := min(pos+size, len(match))
		for _, e := range match[pos:end] {
			page = append(page, map[string]any{"logStreamName": e.stream, "timestamp": e.ts, "message": e.msg,
				"ingestionTime": e.ts + 500, "eventId": e.id})
		}
		if end < len(match) {
			next := "p"
			if f.empty {
				next = "e"
			}
			out["nextToken"] = next + strconv.Itoa(end)
		}
	}
	out["events"] = page
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out) // a failed write fails the client's call
}

func newFake(t *testing.T, group string, pageSize int) (*fakeLogs, *httptest.Server) {
	f := &fakeLogs{group: group, pageSize: pageSize}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}
