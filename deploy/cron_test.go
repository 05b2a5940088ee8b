package deploy_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // CRON_TZ names are checked on any machine
)

// cronField is one of the six fields of an FC timer's cron expression.
type cronField struct {
	name      string
	lo, hi    int
	names     []string // names for lo, lo+1, ... (case-insensitive), if any
	mayAnyDay bool     // '?' is allowed (day of month, day of week)
}

// cronFields are FC's: seconds minutes hours day-of-month month day-of-week, with the ranges and
// names of Function Compute's time trigger documentation (day of week 0-6, 0 being Sunday).
var cronFields = []cronField{
	{name: "seconds", lo: 0, hi: 59},
	{name: "minutes", lo: 0, hi: 59},
	{name: "hours", lo: 0, hi: 23},
	{name: "day of month", lo: 1, hi: 31, mayAnyDay: true},
	{name: "month", lo: 1, hi: 12, names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	{name: "day of week", lo: 0, hi: 6, names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, mayAnyDay: true},
}

// minEvery is the shortest @every interval accepted: FC's console offers intervals in whole
// minutes, so this validator accepts only those.
const minEvery = time.Minute

// cronSchedule is a parsed timer expression: Every for "@every D", else the six fields.
type cronSchedule struct {
	Every    time.Duration
	Location *time.Location
	Fields   []string
}

// parseCron validates an FC timer cronExpression: "@every <Go duration>" (whole minutes, at
// least one), or six space-separated fields (seconds first), optionally prefixed by
// "CRON_TZ=<IANA zone> "; without the prefix the fields are UTC.
func parseCron(expr string) (cronSchedule, error) {
	s := cronSchedule{Location: time.UTC}
	rest := expr
	if strings.HasPrefix(rest, "CRON_TZ=") {
		zone, tail, ok := strings.Cut(strings.TrimPrefix(rest, "CRON_TZ="), " ")
		if !ok || zone == "" {
			return s, errors.New("CRON_TZ= must name a zone and be followed by the six fields")
		}
		loc, err := time.LoadLocation(zone)
		if err != nil || zone == "Local" {
			return s, fmt.Errorf("CRON_TZ=%s: unknown time zone (use an IANA name like Asia/Shanghai)", zone)
		}
		s.Location, rest = loc, tail
	}
	if after, ok := strings.CutPrefix(rest, "@every"); ok {
		if s.Location != time.UTC || rest != expr {
			return s, errors.New("CRON_TZ= applies to the six-field form, not to @every")
		}
		d, err := time.ParseDuration(strings.TrimSpace(after))
		switch {
		case !strings.HasPrefix(after, " ") || err != nil:
			return s, fmt.Errorf("%q: write @every and a Go duration, like @every 5m", expr)
		case d < minEvery:
			return s, fmt.Errorf("%q: the interval must be at least %s", expr, minEvery)
		case d%time.Minute != 0:
			return s, fmt.Errorf("%q: the interval must be whole minutes", expr)
		}
		s.Every = d
		return s, nil
	}
	if strings.HasPrefix(rest, "@") {
		return s, fmt.Errorf("%q: the only descriptor FC documents is @every", expr)
	}
	fields := strings.Split(rest, " ")
	if len(fields) != len(cronFields) {
		return s, fmt.Errorf("%q: want 6 fields separated by single spaces (seconds minutes hours day-of-month month day-of-week), got %d", expr, len(fields))
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return s, fmt.Errorf("%q: %s field %q: %w", expr, cronFields[i].name, f, err)
		}
	}
	s.Fields = fields
	return s, nil
}

// check validates one field: a comma-separated list of *, ? (days only), N, N-M, each of the
// last three optionally followed by /STEP.
func (c cronField) check(field string) error {
	for item := range strings.SplitSeq(field, ",") {
		base, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Errorf("step %q must be a positive number", step)
			}
		}
		switch {
		case base == "*":
			continue
		case base == "?":
			if !c.mayAnyDay || hasStep {
				return errors.New("? is only allowed alone in the day-of-month and day-of-week fields")
			}
			continue
		}
		from, to, isRange := strings.Cut(base, "-")
		lo, err := c.value(from)
		if err != nil {
			return err
		}
		hi := lo
		if isRange {
			if hi, err = c.value(to); err != nil {
				return err
			}
			if hi < lo {
				return fmt.Errorf("range %s is backwards", base)
			}
		}
	}
	return nil
}

// value parses a number or a name within the field's range.
func (c cronField) value(s string) (int, error) {
	for i, n := range c.names {
		if strings.EqualFold(s, n) {
			return c.lo + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is not a number%s", s, c.nameHint())
	}
	if n < c.lo || n > c.hi {
		return 0, fmt.Errorf("%d is outside %d-%d", n, c.lo, c.hi)
	}
	return n, nil
}

func (c cronField) nameHint() string {
	if len(c.names) == 0 {
		return ""
	}
	return " or one of " + strings.Join(c.names, ",")
}

func TestParseCron(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	valid := []struct {
		expr     string
		every    time.Duration
		location *time.Location
	}{
		{"@every 5m", 5 * time.Minute, time.UTC},
		{"@every 1m", time.Minute, time.UTC},
		{"@every 1h30m", 90 * time.Minute, time.UTC},
		{"0 0 9 * * *", 0, time.UTC},
		{"CRON_TZ=Asia/Shanghai 0 0 9 * * *", 0, shanghai},
		{"0 */15 * * * *", 0, time.UTC},
		{"0 0 8-18/2 ? * MON-FRI", 0, time.UTC},
		{"30 0 4 1 jan,jul ?", 0, time.UTC},
		{"0 0,30 0-23 1-31 1-12 0-6", 0, time.UTC},
	}
	for _, tt := range valid {
		t.Run("valid "+tt.expr, func(t *testing.T) {
			s, err := parseCron(tt.expr)
			if err != nil {
				t.Fatalf("parseCron(%q): %v", tt.expr, err)
			}
			if s.Every != tt.every || s.Location.String() != tt.location.String() {
				t.Errorf("parseCron(%q) = every %s in %s, want every %s in %s", tt.expr, s.Every, s.Location, tt.every, tt.location)
			}
		})
	}
	invalid := []struct{ expr, wantErr string }{
		{"", "want 6 fields"},
		{"@every", "Go duration"},
		{"@every5m", "Go duration"},
		{"@every 5", "Go duration"},
		{"@every 0s", "at least"},
		{"@every -5m", "at least"},
		{"@every 30s", "at least"},
		{"@every 90s", "whole minutes"},
		{"@daily", "only descriptor"},
		{"CRON_TZ=Asia/Shanghai @every 5m", "not to @every"},
		{"CRON_TZ=Mars/Olympus 0 0 9 * * *", "unknown time zone"},
		{"CRON_TZ=Local 0 0 9 * * *", "unknown time zone"},
		{"CRON_TZ= 0 0 9 * * *", "must name a zone"},
		{"0 0 9 * *", "got 5"},
		{"0 0 9 * * * *", "got 7"},
		{"0  0 9 * * *", "single spaces"},
		{"60 * * * * *", "outside 0-59"},
		{"* 60 * * * *", "outside 0-59"},
		{"* * 24 * * *", "outside 0-23"},
		{"* * * 0 * *", "outside 1-31"},
		{"* * * * 13 *", "outside 1-12"},
		{"* * * * * 7", "outside 0-6"},
		{"? * * * * *", "only allowed"},
		{"* * * ?/2 * *", "only allowed"},
		{"*/0 * * * * *", "positive"},
		{"5-1 * * * * *", "backwards"},
		{"0,,5 * * * * *", "not a number"},
		{"a * * * * *", "not a number"},
		{"-1 * * * * *", "not a number"},
		{"* * * * FOO *", "not a number or one of JAN"},
	}
	for _, tt := range invalid {
		t.Run("invalid "+tt.expr, func(t *testing.T) {
			_, err := parseCron(tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseCron(%q) error = %v, want one containing %q", tt.expr, err, tt.wantErr)
			}
		})
	}
}
