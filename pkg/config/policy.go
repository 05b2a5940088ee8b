package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/policy"
)

// DefaultRepeatInterval is how often a still-degraded entity is re-alerted by default.
const DefaultRepeatInterval = 4 * time.Hour

// policy checks the alert policy keys and fills in their defaults.
func (v *validator) policy(c *Config) {
	for _, k := range []struct {
		path string
		n    *int
	}{{"failureThreshold", &c.FailureThreshold}, {"successThreshold", &c.SuccessThreshold}} {
		switch {
		case *k.n == 0:
			*k.n = 1
		case *k.n < 1 || *k.n > 100:
			v.add(k.path, "must be between 1 and 100 (default 1)")
		}
	}
	for i, t := range c.Targets {
		for _, k := range []struct {
			name string
			n    int
		}{{"failureThreshold", t.FailureThreshold}, {"successThreshold", t.SuccessThreshold}} {
			if k.n < 0 || k.n > 100 {
				v.add(fmt.Sprintf("targets[%d].%s", i, k.name), "must be between 1 and 100 (0 or unset: the global value)")
			}
		}
	}
	if !c.SendResolved && !v.explicit["sendResolved"] {
		c.SendResolved = true
	}
	switch {
	case c.RepeatInterval == 0 && !v.explicit["repeatInterval"]:
		c.RepeatInterval = Duration(DefaultRepeatInterval)
	case c.RepeatInterval < 0:
		v.add("repeatInterval", "must not be negative (0 turns reminders off; default 4h)")
	case c.RepeatInterval > 0 && c.RepeatInterval.D() < time.Minute:
		v.add("repeatInterval", "must be at least 1m (or 0 to turn reminders off)")
	}
	names := map[string]int{}
	for i := range c.Silences {
		p := fmt.Sprintf("silences[%d]", i)
		s := &c.Silences[i]
		if s.Name == "" {
			s.Name = fmt.Sprintf("silence-%d", i)
		}
		if j, dup := names[s.Name]; dup {
			v.add(p+".name", "%q is already the name of silences[%d]", s.Name, j)
		}
		names[s.Name] = i
		if _, err := s.Policy(); err != nil {
			v.add(p, "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("silence %q: ", s.Name)))
		}
	}
	if c.Digest.Enabled() {
		if c.Digest.At == "" {
			c.Digest.At = "09:00"
		}
		if c.Digest.Timezone == "" {
			c.Digest.Timezone = "UTC"
		}
		if _, err := time.Parse("15:04", c.Digest.At); err != nil {
			v.add("digest.at", "want HH:MM (24-hour), got %q", c.Digest.At)
		}
		if _, err := time.LoadLocation(c.Digest.Timezone); err != nil {
			v.add("digest.timezone", "unknown time zone %q (use an IANA name like Asia/Shanghai)", c.Digest.Timezone)
		}
		digest := false
		for _, n := range c.Notifiers {
			digest = digest || n.Digest
		}
		if !digest {
			v.add("digest", "no notifier has digest: true, so the digest would go nowhere")
		}
	}
}

// Policy converts the silence into the policy's form, checking it.
func (s Silence) Policy() (policy.Silence, error) {
	out := policy.Silence{ID: s.Name, Comment: s.Comment,
		Match: policy.Matcher{ID: s.Match.ID, Labels: s.Match.Labels}}
	out.Match.Type = healthType(s.Match.Type)
	recurring := len(s.Weekdays) > 0 || s.From != "" || s.To != ""
	switch {
	case recurring && (s.Start != "" || s.End != ""):
		return out, fmt.Errorf("silence %q: give start/end (once) or weekdays/from/to (weekly), not both", s.Name)
	case recurring:
		tz := s.Timezone
		if tz == "" {
			tz = "UTC"
		}
		r := &policy.Recurring{From: s.From, To: s.To, Timezone: tz}
		for _, d := range s.Weekdays {
			wd, err := policy.ParseWeekday(d)
			if err != nil {
				return out, fmt.Errorf("silence %q: weekdays: %w", s.Name, err)
			}
			r.Weekdays = append(r.Weekdays, wd)
		}
		out.Recurring = r
	default:
		if s.Timezone != "" {
			return out, fmt.Errorf("silence %q: timezone only applies to weekly windows; put the offset in start/end", s.Name)
		}
		if s.End == "" {
			return out, fmt.Errorf("silence %q: end is required (RFC 3339, e.g. 2026-12-01T06:00:00+08:00), or give weekdays/from/to", s.Name)
		}
		var err error
		if out.End, err = time.Parse(time.RFC3339, s.End); err != nil {
			return out, fmt.Errorf("silence %q: end: want RFC 3339 like 2026-12-01T06:00:00+08:00, got %q", s.Name, s.End)
		}
		if s.Start != "" {
			if out.Start, err = time.Parse(time.RFC3339, s.Start); err != nil {
				return out, fmt.Errorf("silence %q: start: want RFC 3339 like 2026-12-01T22:00:00+08:00, got %q", s.Name, s.Start)
			}
		}
	}
	return out, out.Validate()
}

func healthType(s string) health.EntityType { return health.EntityType(s) }
