package monitor

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/state"
)

// SweepReport says how a cycle covered the targets when they did not all fit.
type SweepReport struct {
	// Targets is the number of targets in scope; Checked how many this cycle called CAMS for
	// (or covered without a call).
	Targets int `json:"targets"`
	Checked int `json:"checked"`
	// Budget is how many checks fitted in the cycle (0: no limit, everything was checked).
	Budget int `json:"budget,omitempty"`
	// Priority counts the unhealthy or failing targets re-checked first.
	Priority int `json:"priority,omitempty"`
	// Cursor is the target the next cycle continues after.
	Cursor string `json:"cursor,omitempty"`
	// Wrapped is true when this cycle completed a pass over every target.
	Wrapped bool `json:"wrapped,omitempty"`
	// OldestCheck is the age of the least recently checked target (one never checked counts
	// from now, i.e. 0, but is listed in NeverChecked).
	OldestCheck  string `json:"oldestCheck,omitempty"`
	NeverChecked int    `json:"neverChecked,omitempty"`
}

// sweepBudget is how many targets a cycle can check: QPS times the time it may spend fetching
// (cycle.maxDuration and/or the FetchBy deadline), with 10% kept for retries. -1: no limit.
func (m *Monitor) sweepBudget(now time.Time, opts RunOptions) int {
	if m.QPS <= 0 {
		return -1
	}
	window := m.MaxDuration
	if !opts.FetchBy.IsZero() {
		if left := opts.FetchBy.Sub(now); window == 0 || left < window {
			window = left
		}
	}
	if window <= 0 {
		return -1
	}
	return max(1, int(math.Floor(m.QPS*window.Seconds()*0.9)))
}

// sweep picks the targets of this cycle when they do not all fit in budget: first those that
// need watching (a failing check, or an entity not AVAILABLE), then, in a stable order, those
// after the cursor the previous cycle left, wrapping around. It returns the chosen targets (in
// their configured order) and the report; prev.Sweep's cursor moves in next.
func sweep(targets []health.Target, budget int, prev *state.State) ([]health.Target, SweepReport) {
	rep := SweepReport{Targets: len(targets)}
	if budget < 0 || len(targets) <= budget {
		rep.Checked = len(targets)
		return targets, rep
	}
	rep.Budget = budget
	needs := map[string]bool{}
	for id, ts := range prev.Targets {
		if ts.ConsecutiveFailures > 0 {
			needs[id] = true
		}
	}
	for _, e := range prev.Snapshot.Sorted() {
		if !e.CanSendMessage.OK() {
			for _, src := range e.Sources {
				needs[src] = true
			}
		}
	}
	byID := slices.Clone(targets)
	slices.SortFunc(byID, func(a, b health.Target) int { return cmp.Compare(a.ID(), b.ID()) })
	chosen := map[string]bool{}
	for _, t := range byID {
		if len(chosen) < budget && needs[t.ID()] {
			chosen[t.ID()] = true
			rep.Priority++
		}
	}
	cursor := ""
	if prev.Sweep != nil {
		cursor = prev.Sweep.Cursor
	}
	start, _ := slices.BinarySearchFunc(byID, cursor, func(t health.Target, c string) int { return cmp.Compare(t.ID(), c) })
	if start < len(byID) && byID[start].ID() == cursor {
		start++
	}
	for i := 0; i < len(byID) && len(chosen) < budget; i++ {
		j := (start + i) % len(byID)
		if start+i >= len(byID) {
			rep.Wrapped = true
		}
		id := byID[j].ID()
		if !chosen[id] {
			chosen[id] = true
			rep.Cursor = id
		}
	}
	if rep.Cursor == "" {
		rep.Cursor = cursor
	}
	var out []health.Target
	for _, t := range targets {
		if chosen[t.ID()] {
			out = append(out, t)
		}
	}
	rep.Checked = len(out)
	return out, rep
}

// oldestCheck fills the report's age of the least recently checked target.
func (r *SweepReport) oldestCheck(targets []health.Target, st *state.State, now time.Time) {
	var oldest time.Time
	for _, t := range targets {
		ts := st.Targets[t.ID()]
		if ts == nil || ts.LastChecked.IsZero() {
			r.NeverChecked++
			continue
		}
		if oldest.IsZero() || ts.LastChecked.Before(oldest) {
			oldest = ts.LastChecked
		}
	}
	if !oldest.IsZero() {
		r.OldestCheck = now.Sub(oldest).Round(time.Second).String()
	}
}

// fetchCovered checks the phone and template targets first, then only those WABA targets whose
// WABA rows no earlier answer in this cycle returned: a phone or template query already returns
// its WABA, BUSINESS and APP rows, so a separate WABA query would spend a call to learn nothing
// new. A covered WABA target counts as checked, with the rows it would have returned.
func (m *Monitor) fetchCovered(ctx context.Context, o *observations, observe func(int, cams.Outcome)) int {
	var first, wabas []int
	for i, t := range o.targets {
		if t.NodeType == health.NodeWABA {
			wabas = append(wabas, i)
		} else {
			first = append(first, i)
		}
	}
	m.checkSome(ctx, o, first, observe)
	seen := map[[2]string][]health.Entity{} // custSpaceId, wabaId -> the rows a waba query returns
	for _, i := range first {
		r := o.results[i]
		if r == nil {
			continue
		}
		var rows []health.Entity
		waba := ""
		for _, e := range r.Entities {
			switch e.Type {
			case health.WABA:
				waba = e.ID
				rows = append(rows, e)
			case health.Business, health.App:
				rows = append(rows, e)
			}
		}
		if waba != "" {
			seen[[2]string{o.targets[i].CustSpaceID, waba}] = rows
		}
	}
	var rest []int
	covered := 0
	for _, i := range wabas {
		t := o.targets[i]
		rows, ok := seen[[2]string{t.CustSpaceID, t.WabaID}]
		if !ok {
			rest = append(rest, i)
			continue
		}
		res := &cams.Result{Overall: health.Available}
		for _, e := range rows {
			c := e
			c.Sources, c.Labels = nil, nil
			health.Identify(&c, t)
			res.Overall = health.Worse(res.Overall, c.CanSendMessage)
			res.Entities = append(res.Entities, c)
		}
		o.results[i] = res
		covered++
	}
	m.checkSome(ctx, o, rest, observe)
	return covered
}

// checkSome checks the targets at the given indexes of o.
func (m *Monitor) checkSome(ctx context.Context, o *observations, idx []int, observe func(int, cams.Outcome)) {
	if len(idx) == 0 {
		return
	}
	ts := make([]health.Target, len(idx))
	for j, i := range idx {
		ts[j] = o.targets[i]
	}
	m.Source.CheckAll(ctx, ts, func(j int, out cams.Outcome) {
		i := idx[j]
		o.results[i], o.errs[i] = out.Result, out.Err
		observe(i, out)
	})
}
