// Package monitor runs wahealth's check cycle: targets -> CAMS -> snapshot -> previous state ->
// diff -> alert policy -> outbox -> notifiers -> state. Both functions (the timer checker and
// the HTTP on-demand endpoint) and the local programs call Run; nothing here knows whether it
// runs in Function Compute.
package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/policy"
	"github.com/wahealth/wahealth/pkg/state"
)

// HealthSource checks targets. *cams.Client is the production source.
type HealthSource interface {
	// CheckAll checks every target and calls fn, serially, as each finishes.
	CheckAll(ctx context.Context, targets []health.Target, fn func(i int, o cams.Outcome))
}

var _ HealthSource = (*cams.Client)(nil)

// Channel is a named notifier.
type Channel struct {
	// Name identifies the channel in the outbox and reports.
	Name string
	// Type is the channel's kind (console, slack, ...), for reports.
	Type string
	// Notifier delivers messages.
	Notifier notify.Notifier
	// Filter selects the alerts this channel receives.
	Filter notify.Filter
	// Digest makes the channel receive the scheduled digest.
	Digest bool
	// Timeout bounds one delivery (Monitor.NotifyTimeout when 0).
	Timeout time.Duration
}

// Monitor runs check cycles. Its fields are set once; Run may be called repeatedly, but cycles
// on one store are serialised by the store's lease.
type Monitor struct {
	// Source answers health queries.
	Source HealthSource
	// Store keeps state between cycles.
	Store state.Store
	// Channels receive alerts.
	Channels []Channel
	// Targets are the configured queries.
	Targets []health.Target
	// Logger receives structured records.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Policy holds the alerting rules (thresholds, recovery, reminders).
	Policy policy.Config
	// Silences mute matching entities while active (the HTTP API's silences, kept in the
	// state, apply too).
	Silences []policy.Silence
	// SilencesFrom, when set, is another store whose API silences apply too (read only): a
	// shard's monitor keeps its own state but honours the silences the HTTP function stores
	// in the main one.
	SilencesFrom state.Store
	// Digest, when set, schedules a daily summary to the channels with Digest set.
	Digest *DigestSchedule
	// QPS is the request budget of the cycle's health source. With MaxDuration or a FetchBy
	// deadline it sizes the sweep: when not every target fits, each cycle checks a slice and
	// the next continues where it stopped (unhealthy ones first, every cycle). 0: no sweeping.
	QPS float64
	// MaxDuration bounds the time a cycle spends fetching (cycle.maxDuration; 0: none).
	MaxDuration time.Duration
	// SkipCoveredWABA skips a WABA target's query when a phone or template query of the same
	// cycle already returned that WABA's rows.
	SkipCoveredWABA bool
	// Progress, when set, is told how many targets are done (a terminal progress bar).
	Progress func(done, total int)
	// CheckFailureThreshold is how many consecutive failed checks of a target raise one
	// "cannot check" alert (3 when 0).
	CheckFailureThreshold int
	// LeaseTTL bounds how long a crashed cycle can hold the state (10 minutes when 0).
	LeaseTTL time.Duration
	// NotifyTimeout bounds one delivery (15 s when 0).
	NotifyTimeout time.Duration
	// DeliveredTTL is how long delivered message ids are remembered (7 days when 0).
	DeliveredTTL time.Duration

	// unrecorded remembers deliveries that went out but could not be recorded in the store
	// (it failed after notifying), so that a later cycle in the same process does not send them
	// again. Keyed like State.Delivered.
	mu         sync.Mutex
	unrecorded map[string]time.Time
}

// DigestSchedule is the time of day of the digest.
type DigestSchedule struct {
	Hour, Minute int
	Location     *time.Location
}

// due returns the latest scheduled digest time at or before now.
func (d DigestSchedule) due(now time.Time) time.Time {
	local := now.In(d.Location)
	at := time.Date(local.Year(), local.Month(), local.Day(), d.Hour, d.Minute, 0, 0, d.Location)
	if at.After(local) {
		at = at.AddDate(0, 0, -1)
	}
	return at
}

// RunOptions adjust one cycle.
type RunOptions struct {
	// CycleID identifies the cycle (the FC request id); generated when empty.
	CycleID string
	// DryRun checks and reports but neither alerts nor saves.
	DryRun bool
	// Select narrows the cycle to the targets it accepts (nil: all). Entities of the other
	// targets keep their state.
	Select func(health.Target) bool
	// FetchBy, when set, is when the cycle stops calling CAMS (targets not checked by then
	// count as failed checks), while saving state and sending alerts keep the full context:
	// Function Compute sets it a margin before the invocation's deadline.
	FetchBy time.Time
	// Observe, when set, is called with every target's fetch outcome as it arrives (the HTTP
	// function's recorded ad-hoc check returns CAMS's own answer this way).
	Observe func(cams.Outcome)
}

// ErrBusy is matched by Run when another cycle holds the state.
var ErrBusy = state.ErrLocked

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Monitor) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// NewCycleID returns a fresh cycle id: the UTC time and a random suffix.
func NewCycleID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run performs one check cycle and returns its report. A cycle that could not run at all
// (another cycle holds the state, the state cannot be read or saved) returns an error; failed
// fetches of single targets are not errors but part of the report.
func (m *Monitor) Run(ctx context.Context, opts RunOptions) (*Report, error) {
	start := m.now()
	if opts.CycleID == "" {
		opts.CycleID = NewCycleID(start)
	}
	log := m.log().With(slog.String("cycle", opts.CycleID))

	ttl := m.LeaseTTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	var lease state.Lease
	if !opts.DryRun {
		l, err := m.Store.Lock(ctx, opts.CycleID, ttl)
		if err != nil {
			return nil, fmt.Errorf("take state lease: %w", err)
		}
		lease = l
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := lease.Release(rctx); err != nil {
				log.Warn("release state lease", slog.String("error", err.Error()))
			}
		}()
	}

	// Read the previous state first: a store that cannot be read stops the cycle before any
	// CAMS call is spent.
	prev, err := m.Store.Load(ctx)
	if err != nil {
		return nil, m.loadFailed(ctx, err, opts.DryRun, log)
	}

	if !opts.DryRun && prev.LastCycle != nil && prev.LastCycle.ID == opts.CycleID {
		// A retry of an invocation whose cycle already completed (Function Compute retries
		// with the same request id): deliver what is still pending, check nothing again.
		return m.replay(ctx, prev, opts, start, log), nil
	}

	targets := m.Targets
	if opts.Select != nil {
		targets = nil
		for _, t := range m.Targets {
			if opts.Select(t) {
				targets = append(targets, t)
			}
		}
	}
	all := targets
	targets, sweepRep := sweep(targets, m.sweepBudget(start, opts), prev)
	fetchBy := opts.FetchBy
	if m.MaxDuration > 0 && (fetchBy.IsZero() || start.Add(m.MaxDuration).Before(fetchBy)) {
		fetchBy = start.Add(m.MaxDuration)
	}
	fctx := ctx
	if !fetchBy.IsZero() {
		var cancel context.CancelFunc
		fctx, cancel = context.WithDeadline(ctx, fetchBy)
		defer cancel()
	}
	obs := m.fetch(fctx, targets, opts.Observe)
	if m.SilencesFrom != nil {
		shared, err := m.SilencesFrom.Load(ctx)
		if err != nil {
			// Not fatal: the cycle's own silences still apply; say so.
			log.Warn("load shared silences", slog.String("error", err.Error()))
		} else {
			obs.silences = shared.Silences
		}
	}
	obs.sweep = sweepRep

	rep := &Report{CycleID: opts.CycleID, StartedAt: start, DryRun: opts.DryRun, Covered: obs.covered}
	var plan *plan
	for attempt := 1; ; attempt++ {
		plan = m.apply(prev, obs, opts, start)
		if opts.DryRun {
			break
		}
		// Save the new state with its outbox before sending anything: a crash from here on
		// re-sends (at least once) rather than loses.
		err := m.Store.Save(ctx, plan.next)
		if err == nil {
			break
		}
		if !errors.Is(err, state.ErrConflict) || attempt >= 3 {
			return nil, fmt.Errorf("save state: %w", err)
		}
		log.Warn("state changed under the cycle, re-reading", slog.Int("attempt", attempt))
		if prev, err = m.Store.Load(ctx); err != nil {
			return nil, fmt.Errorf("reload state: %w", err)
		}
	}

	var deliveries []Delivery
	var recordErr error
	pendingBefore := len(plan.next.Outbox)
	if !opts.DryRun {
		deliveries, recordErr = m.deliver(ctx, plan.next, log)
	}
	plan.fill(rep, deliveries)
	rep.Sweep = &obs.sweep
	rep.Sweep.oldestCheck(all, plan.next, obs.at)
	if recordErr != nil {
		// What went out is remembered in this process and not sent again; the store still
		// lists it as pending until a later cycle records it.
		rep.Pending = pendingBefore
		rep.Warnings = append(rep.Warnings, recordErr.Error())
	}
	rep.FinishedAt = m.now()
	log.LogAttrs(ctx, slog.LevelInfo, "check cycle",
		slog.Int("checked", rep.Checked), slog.Int("failed", rep.Failed), slog.Int("entities", len(rep.Entities)),
		slog.Int("changes", len(rep.Changes)), slog.Bool("baseline", rep.Baseline), slog.Int("pending", rep.Pending),
		slog.Duration("took", rep.FinishedAt.Sub(rep.StartedAt)))
	return rep, nil
}

// replay reports a cycle that already ran, after delivering its pending alerts.
func (m *Monitor) replay(ctx context.Context, prev *state.State, opts RunOptions, start time.Time, log *slog.Logger) *Report {
	rep := &Report{CycleID: opts.CycleID, StartedAt: start, Replayed: true, Changes: []ChangeReport{}, Failures: []FailureReport{}}
	pendingBefore := len(prev.Outbox)
	var recordErr error
	rep.Deliveries, recordErr = m.deliver(ctx, prev, log)
	rep.Checked, rep.Failed = prev.LastCycle.Checked, prev.LastCycle.Failed
	for _, e := range prev.Snapshot.Sorted() {
		rep.Entities = append(rep.Entities, EntityReport{Entity: *e})
	}
	rep.Pending = len(prev.Outbox)
	if recordErr != nil {
		rep.Pending = pendingBefore
		rep.Warnings = append(rep.Warnings, recordErr.Error())
	}
	rep.FinishedAt = m.now()
	log.Info("check cycle already completed: replayed", slog.Int("deliveries", len(rep.Deliveries)))
	return rep
}

// loadFailed handles a state that cannot be read. A corrupt document, or one written by a
// newer schema, is moved aside (kept, never deleted) so that the next cycle starts a fresh
// baseline — one summary, no alert storm — and this cycle fails with a clear error saying
// where the copy went. Any other failure (the store is unreachable) changes nothing.
func (m *Monitor) loadFailed(ctx context.Context, err error, dryRun bool, log *slog.Logger) error {
	var corrupt *state.CorruptError
	var schema *state.SchemaError
	if dryRun || (!errors.As(err, &corrupt) && !errors.As(err, &schema)) {
		return fmt.Errorf("load state: %w", err)
	}
	where, qerr := m.Store.Quarantine(ctx)
	if qerr != nil {
		log.Error("state is damaged and could not be moved aside", slog.String("error", err.Error()), slog.String("quarantine_error", qerr.Error()))
		return fmt.Errorf("load state: %w (moving it aside failed too: %v)", err, qerr)
	}
	log.Error("state is damaged: moved aside; the next cycle starts a fresh baseline", slog.String("error", err.Error()), slog.String("moved_to", where))
	return &QuarantinedError{Err: err, MovedTo: where}
}

// QuarantinedError reports a cycle that found the state damaged and moved it aside.
type QuarantinedError struct {
	// Err is the decoding or schema error.
	Err error
	// MovedTo is where the damaged copy is kept.
	MovedTo string
}

// Error says what happened and what comes next.
func (e *QuarantinedError) Error() string {
	return fmt.Sprintf("load state: %v; the damaged copy was moved to %s and the next cycle starts a fresh baseline", e.Err, e.MovedTo)
}

// Unwrap returns the decoding or schema error.
func (e *QuarantinedError) Unwrap() error { return e.Err }

// observations are the results of one round of fetches.
type observations struct {
	targets []health.Target
	results []*cams.Result
	errs    []error
	at      time.Time
	// covered counts WABA targets answered from rows other queries returned (no call).
	covered int
	// sweep is how the cycle's targets were chosen.
	sweep SweepReport
	// silences are API silences read from Monitor.SilencesFrom.
	silences []policy.Silence
}

func (m *Monitor) fetch(ctx context.Context, targets []health.Target, observe func(cams.Outcome)) *observations {
	o := &observations{targets: targets, results: make([]*cams.Result, len(targets)), errs: make([]error, len(targets))}
	done := 0
	note := func(_ int, out cams.Outcome) {
		done++
		if observe != nil {
			observe(out)
		}
		if m.Progress != nil {
			m.Progress(done, len(targets))
		}
	}
	idx := make([]int, len(targets))
	for i := range idx {
		idx[i] = i
	}
	if m.SkipCoveredWABA {
		o.covered = m.fetchCovered(ctx, o, note)
		done += o.covered
	} else {
		m.checkSome(ctx, o, idx, note)
	}
	o.at = m.now()
	return o
}
