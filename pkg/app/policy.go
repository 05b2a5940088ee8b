package app

import (
	"fmt"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
	"github.com/wahealth/wahealth/pkg/policy"
)

// applyPolicy sets the monitor's alert policy, silences and digest schedule from cfg.
func applyPolicy(cfg *config.Config, m *monitor.Monitor) error {
	perTarget := map[string][2]int{}
	for _, t := range cfg.Targets {
		if t.FailureThreshold > 0 || t.SuccessThreshold > 0 {
			perTarget[t.Health().ID()] = [2]int{t.FailureThreshold, t.SuccessThreshold}
		}
	}
	m.Policy = policy.Config{
		FailureThreshold: cfg.FailureThreshold,
		SuccessThreshold: cfg.SuccessThreshold,
		SkipResolved:     !cfg.SendResolved,
		RepeatInterval:   cfg.RepeatInterval.D(),
	}
	if len(perTarget) > 0 {
		// An entity seen through several targets takes the lowest threshold any of them sets.
		m.Policy.Thresholds = func(e *health.Entity) (int, int) {
			fail, succ := 0, 0
			for _, src := range e.Sources {
				th, ok := perTarget[src]
				if !ok {
					continue
				}
				if th[0] > 0 && (fail == 0 || th[0] < fail) {
					fail = th[0]
				}
				if th[1] > 0 && (succ == 0 || th[1] < succ) {
					succ = th[1]
				}
			}
			return fail, succ
		}
	}
	m.Silences = nil
	for i, s := range cfg.Silences {
		ps, err := s.Policy()
		if err != nil {
			return fmt.Errorf("silences[%d]: %w", i, err)
		}
		m.Silences = append(m.Silences, ps)
	}
	m.Digest = nil
	if cfg.Digest.Enabled() {
		at, err := time.Parse("15:04", cfg.Digest.At)
		if err != nil {
			return fmt.Errorf("digest.at: %w", err)
		}
		loc, err := time.LoadLocation(cfg.Digest.Timezone)
		if err != nil {
			return fmt.Errorf("digest.timezone: %w", err)
		}
		m.Digest = &monitor.DigestSchedule{Hour: at.Hour(), Minute: at.Minute(), Location: loc}
	}
	return nil
}
