package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vigilsec/vigil/detect"
	"github.com/vigilsec/vigil/detect/correlate"
)

// ruleSet is a matcher and a correlator built from one load of the rules.
type ruleSet struct {
	matcher    *detect.Matcher
	correlator *correlate.Correlator
}

// buildRules loads the rules at paths (the built-in pack when empty) and
// builds a matcher and a correlator of the enabled ones. Any problem fails
// the whole set.
func buildRules(paths []string, dc detect.Config, cc correlate.Config) (*ruleSet, int, error) {
	set, err := loadRules(paths)
	if err != nil {
		return nil, 0, fmt.Errorf("loading rules:\n%w", err)
	}
	m, err := detect.New(set.Rules, dc)
	if err != nil {
		return nil, 0, err
	}
	co, err := correlate.New(set.Rules, cc)
	if err != nil {
		return nil, 0, err
	}
	enabled := 0
	for _, r := range set.Rules {
		if r.Enabled {
			enabled++
		}
	}
	return &ruleSet{matcher: m, correlator: co}, enabled, nil
}

// rulesFingerprint summarises the names, sizes and modification times of
// the files under paths, so that a change to any of them (a rule file, a
// list file) shows as a different value. A path that cannot be read shows
// its error, so that it changes too when the path is fixed.
func rulesFingerprint(paths []string) string {
	h := sha256.New()
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "%s\x00%d\x00%d\n", path, info.Size(), info.ModTime().UnixNano())
			return nil
		})
		if err != nil {
			fmt.Fprintf(h, "%s\x00error %v\n", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// watchRules reloads the rules on each value from hup (SIGHUP) and, when
// every is positive and rule paths are set, when rulesFingerprint changes.
// It returns when ctx ends.
func (p *pipeline) watchRules(ctx context.Context, hup <-chan os.Signal, every time.Duration) {
	last := rulesFingerprint(p.rc.rules)
	var tick <-chan time.Time
	if every > 0 && len(p.rc.rules) > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		var reason string
		select {
		case <-ctx.Done():
			return
		case s := <-hup:
			reason = s.String()
		case <-tick:
			fp := rulesFingerprint(p.rc.rules)
			if fp == last {
				continue
			}
			reason = "rule files changed"
		}
		last = rulesFingerprint(p.rc.rules) // a change during the load triggers another
		p.reloadRules(reason)
	}
}

// reloadRules builds the whole new rule set and hands it to the detect
// stage, which swaps it in between two events. A set that fails to build
// is reported and the running set stays.
func (p *pipeline) reloadRules(reason string) {
	rs, n, err := buildRules(p.rc.rules, p.rc.detect, p.rc.correlate)
	if err != nil {
		p.metrics.RuleReloads.WithLabelValues("error").Inc()
		p.log.Error("rule reload failed; the running rules stay", "reason", reason, "error", err)
		return
	}
	p.log.Info("rules loaded; swapping them in", "reason", reason, "rules", n)
	p.nextRules.Store(&pendingRules{set: rs, enabled: n})
	p.wakeMu.Lock()
	if p.wake != nil {
		p.wake()
	}
	p.wakeMu.Unlock()
}

// pendingRules is a rule set waiting for the detect stage.
type pendingRules struct {
	set     *ruleSet
	enabled int
}

// swapRules replaces the running rules by next, in the detect stage,
// between two events. The correlation state of rules kept with the same
// version and type, suppression periods included, carries over
// (correlate's Snapshot and Restore); the periods of other rules close and
// come out of the next Advance. The alerts the matcher fired since its
// last Advance are returned. If the state cannot be carried over, the
// running set stays.
func (p *pipeline) swapRules(next *pendingRules) ([]*detect.Alert, error) {
	var snap bytes.Buffer
	if err := p.correlator.Snapshot(&snap); err != nil {
		return nil, fmt.Errorf("saving the correlation state: %w", err)
	}
	if err := next.set.correlator.Restore(&snap); err != nil {
		return nil, fmt.Errorf("restoring the correlation state into the new rules: %w", err)
	}
	closed := p.matcher.Flush()
	p.metrics.Replace(p.matcher.Stats(), p.correlator.Stats(), func() {
		p.matcher, p.correlator = next.set.matcher, next.set.correlator
		p.current.Store(p.matcher)
		p.publishCorrelatorStats()
	})
	p.metrics.RulesLoaded.Set(float64(next.enabled))
	p.metrics.RulesReloadedAt.SetToCurrentTime()
	return closed, nil
}
