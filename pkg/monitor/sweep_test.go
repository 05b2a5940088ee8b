package monitor_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
)

func phones(n int) []health.Target {
	out := make([]health.Target, n)
	for i := range out {
		out[i] = health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: fmt.Sprintf("86139%05d", i), WabaID: "w1"}
	}
	return out
}

func TestSweepCoversEveryTargetWithinCeilNOverBudget(t *testing.T) {
	const n = 10
	r := newRig(t, []byte(`
targets:
  - nodeType: phone
    phoneNumber: "8613900003"
    steps: [{phone: BLOCKED}]
`), phones(n))
	r.mon.QPS, r.mon.MaxDuration = 1, 3400*time.Millisecond // 3 checks a cycle
	seen := map[string]int{}
	var wrapped bool
	cycles := (n + 2) / 3 // ceil(10/3) = 4 — but one slot goes to the blocked number every cycle
	for c := 0; c < cycles+2; c++ {
		rep := r.cycle(t)
		if rep.Sweep == nil || rep.Sweep.Budget != 3 || rep.Sweep.Checked != 3 {
			t.Fatalf("cycle %d: sweep %+v", c, rep.Sweep)
		}
		wrapped = wrapped || rep.Sweep.Wrapped
		ids := map[string]bool{}
		for _, e := range rep.Entities {
			if e.Type == health.PhoneNumber && !e.Stale {
				ids[e.ID] = true
				seen[e.ID]++
			}
		}
		if c > 0 && !ids["8613900003"] {
			t.Errorf("cycle %d: the blocked number was not re-checked (checked %v)", c, ids)
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d numbers checked in %d cycles: %v", len(seen), n, cycles+2, seen)
	}
	if !wrapped {
		t.Error("no cycle completed a pass")
	}
}

func TestSweepWithoutHealthProblemsTakesCeilCycles(t *testing.T) {
	const n = 10
	r := newRig(t, []byte("targets: []\n"), phones(n))
	r.mon.QPS, r.mon.MaxDuration = 1, 3400*time.Millisecond
	seen := map[string]bool{}
	for c := 0; c < 4; c++ { // ceil(10/3)
		rep := r.cycle(t)
		for _, e := range rep.Entities {
			if e.Type == health.PhoneNumber && !e.Stale {
				seen[e.ID] = true
			}
		}
	}
	if len(seen) != n {
		t.Errorf("after ceil(N/budget) = 4 cycles, %d of %d checked", len(seen), n)
	}
	rep := r.cycle(t)
	if rep.Sweep.NeverChecked != 0 || rep.Sweep.OldestCheck == "" {
		t.Errorf("sweep report %+v", rep.Sweep)
	}
}

func TestCoveredWABAQueryIsSkipped(t *testing.T) {
	targets := append(phones(2), health.Target{NodeType: health.NodeWABA, CustSpaceID: "cs", WabaID: "w1", Labels: map[string]string{"team": "x"}})
	r := newRig(t, []byte(`
targets:
  - nodeType: phone
    phoneNumber: "8613900000"
    wabaId: w1
  - nodeType: phone
    phoneNumber: "8613900001"
    wabaId: w1
`), targets)
	r.mon.SkipCoveredWABA = true
	rep := r.cycle(t)
	if calls := r.sim.Stats().Calls; calls != 2 || rep.Covered != 1 || rep.Checked != 3 {
		t.Fatalf("calls %d covered %d checked %d, want 2 calls and the WABA target covered", calls, rep.Covered, rep.Checked)
	}
	for _, e := range rep.Entities {
		if e.Type == health.WABA && (!slices.Contains(e.Sources, targets[2].ID()) || e.Labels["team"] != "x") {
			t.Errorf("the covered WABA target is not among the sources: %+v", e)
		}
	}
	// Without the option, the WABA target gets its own call.
	r2 := newRig(t, []byte("targets: []\n"), targets)
	r2.cycle(t)
	if calls := r2.sim.Stats().Calls; calls != 3 {
		t.Errorf("calls %d, want 3", calls)
	}
}
