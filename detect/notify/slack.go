package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Slack posts Block Kit messages to a Slack incoming webhook.
//
// Every piece of alert text is escaped for Slack (&, <, > as entities, so
// <!here>, <@U123> and <http://x|label> cannot form) and broadcast words
// (@here, @channel, @everyone) are broken with a zero-width space; text
// from logs goes into plain_text objects, which Slack does not format.
type Slack struct {
	name string
	url  *url.URL
	link *linkTemplate
	c    *client
	now  func() time.Time
}

var _ Destination = (*Slack)(nil)

// Name returns the destination's name.
func (s *Slack) Name() string { return s.name }

// slackEscaper escapes Slack's control characters and defuses broadcasts.
var slackEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;",
	"@here", "@\u200bhere", "@channel", "@\u200bchannel", "@everyone", "@\u200beveryone",
	"!here", "!\u200bhere", "!channel", "!\u200bchannel", "!everyone", "!\u200beveryone",
)

// slackText escapes s and caps it at n runes (Block Kit limits).
func slackText(s string, n int) string {
	s = slackEscaper.Replace(s)
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

type slackTextObj struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string         `json:"type"`
	Text     *slackTextObj  `json:"text,omitempty"`
	Fields   []slackTextObj `json:"fields,omitempty"`
	Elements []slackTextObj `json:"elements,omitempty"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

func plain(s string, n int) slackTextObj {
	return slackTextObj{Type: "plain_text", Text: slackText(s, n)}
}

// message builds the Block Kit payload.
func (s *Slack) message(n *Notification) (slackMessage, error) {
	a := n.Alert
	link, err := s.link.render(a)
	if err != nil {
		return slackMessage{}, fmt.Errorf("link template: %w", err)
	}
	head := fmt.Sprintf("[%s] %s", strings.ToUpper(a.Severity), a.Title)
	fields := []slackTextObj{
		plain("Rule: "+a.RuleID, 2000),
		plain(fmt.Sprintf("Events: %d in %d alert(s)", n.Count, len(n.AlertIDs)), 2000),
		plain("First: "+a.FirstTime.UTC().Format(time.RFC3339), 2000),
		plain("Log type: "+a.LogType, 2000),
	}
	if a.GroupKey != "" {
		fields = append(fields, plain("Group: "+a.GroupKey, 2000))
	}
	if n.Account != "" {
		fields = append(fields, plain("Account: "+n.Account, 2000))
	}
	blocks := []slackBlock{
		{Type: "header", Text: &slackTextObj{Type: "plain_text", Text: slackText(head, 150)}},
		{Type: "section", Text: &slackTextObj{Type: "plain_text", Text: slackText(a.Summary, 3000)}},
		{Type: "section", Fields: fields},
	}
	var ctx []slackTextObj
	if n.Runbook != "" {
		ctx = append(ctx, plain("Runbook: "+n.Runbook, 2000))
	}
	if link != "" {
		ctx = append(ctx, plain(link, 2000))
	}
	ctx = append(ctx, plain("alert "+a.AlertID, 2000))
	blocks = append(blocks, slackBlock{Type: "context", Elements: ctx})
	return slackMessage{Text: slackText(head+": "+a.Summary, 3000), Blocks: blocks}, nil
}

// Send posts the notification once.
func (s *Slack) Send(ctx context.Context, n *Notification) error {
	m, err := s.message(n)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.c.post(ctx, s.url, nil, raw, s.now())
}
