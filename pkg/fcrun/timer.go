package fcrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/aliyun/fc-runtime-go-sdk/events"

	"github.com/wahealth/wahealth/pkg/app"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
)

// Payload is the timer trigger's payload (the trigger's `payload` setting, delivered as the
// string event.payload): a JSON object whose fields are all optional. An empty or absent
// payload, or null, is the zero Payload: check every target and alert.
type Payload struct {
	// Labels narrows the cycle to the targets that carry every one of these labels with the
	// same value (empty: every target). Entities of the other targets keep their state.
	Labels map[string]string `json:"labels,omitempty"`
	// DryRun checks and reports, but neither alerts nor saves state.
	DryRun bool `json:"dryRun,omitempty"`
	// Shard, "i/n" (1 <= i <= n), checks only the targets whose stable hash falls in shard i of
	// n, with the shard's own state scope: several timer triggers, each with its own shard,
	// split a fleet too large for one invocation.
	Shard string `json:"shard,omitempty"`
}

// validPayload says what a payload may hold; every PayloadError ends with it.
const validPayload = `the payload is a JSON object with the optional fields "labels" (an object of label names to ` +
	`string values), "dryRun" (true or false) and "shard" ("i/n"), e.g. {"labels":{"team":"support"},"dryRun":true}`

// PayloadError is a timer payload that cannot be used. The invocation fails with it before any
// state is read or any CAMS call is made.
type PayloadError struct {
	// Field is the JSON field at fault ("" when the payload as a whole is).
	Field string
	// Problem says what is wrong.
	Problem string
	// Err is the decoder's error, when there is one.
	Err error
}

// Error describes the problem and what a valid payload is.
func (e *PayloadError) Error() string {
	return "invalid timer payload: " + e.Problem + "; " + validPayload
}

// Unwrap returns the decoder's error.
func (e *PayloadError) Unwrap() error { return e.Err }

// ParsePayload parses a timer payload. Unknown fields, values of the wrong type, anything but
// one JSON object, and empty label names are refused with a *PayloadError naming the field.
func ParsePayload(s string) (Payload, error) {
	var p Payload
	trimmed := bytes.TrimSpace([]byte(s))
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return p, nil
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return p, syntaxProblem(json.Unmarshal(trimmed, new(any)))
		}
		return p, &PayloadError{Problem: "it must be a JSON object, not " + jsonKind(trimmed[0])}
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Payload{}, decodeProblem(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Payload{}, &PayloadError{Problem: "unexpected data after the JSON object"}
	}
	for k := range p.Labels {
		if strings.TrimSpace(k) == "" {
			return Payload{}, &PayloadError{Field: "labels", Problem: `field "labels" has an empty label name`}
		}
	}
	if p.Shard != "" {
		if _, _, err := p.ShardOf(); err != nil {
			return Payload{}, err
		}
	}
	return p, nil
}

// ShardOf parses Shard: i and n, or 0, 0 when the payload names no shard.
func (p Payload) ShardOf() (int, int, error) {
	if p.Shard == "" {
		return 0, 0, nil
	}
	var i, n int
	if c, err := fmt.Sscanf(p.Shard, "%d/%d", &i, &n); err != nil || c != 2 || n < 1 || i < 1 || i > n || fmt.Sprintf("%d/%d", i, n) != p.Shard {
		return 0, 0, &PayloadError{Field: "shard", Problem: fmt.Sprintf(`field "shard" must be "i/n" with 1 <= i <= n, like "2/4", not %q`, p.Shard)}
	}
	return i, n, nil
}

// decodeProblem turns an error of json.Decoder.Decode into a PayloadError.
func decodeProblem(err error) error {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		var want string
		switch {
		case field == "dryRun":
			want = "true or false"
		case field == "labels" && typeErr.Type.Kind() == reflect.String:
			return &PayloadError{Field: field, Problem: fmt.Sprintf("field %q must map label names to strings, not to %s", field, article(typeErr.Value)), Err: err}
		case field == "labels":
			want = "an object of label names to string values"
		default:
			want = "of type " + typeErr.Type.String()
		}
		return &PayloadError{Field: field, Problem: fmt.Sprintf("field %q must be %s, not %s", field, want, article(typeErr.Value)), Err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return &PayloadError{Field: strings.Trim(name, `"`), Problem: "unknown field " + name, Err: err}
	}
	return syntaxProblem(err)
}

// syntaxProblem describes a payload that is not valid JSON.
func syntaxProblem(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return &PayloadError{Problem: fmt.Sprintf("not valid JSON (%s at byte %d)", strings.TrimPrefix(syn.Error(), "json: "), syn.Offset), Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &PayloadError{Problem: "not valid JSON (it ends too early)", Err: err}
	}
	return &PayloadError{Problem: "not valid JSON", Err: err}
}

// jsonKind names the JSON value starting with c.
func jsonKind(c byte) string {
	switch c {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// article prefixes a JSON type name from json.UnmarshalTypeError.Value.
func article(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "a boolean"
	case "":
		return "that value"
	}
	if strings.HasPrefix(v, "number") {
		return "a number"
	}
	return "a " + v
}

// selectTargets returns the RunOptions.Select function of a label selection (nil: every
// target), or a PayloadError when it selects none of targets.
func selectTargets(labels map[string]string, targets []health.Target) (func(health.Target) bool, int, error) {
	if len(labels) == 0 {
		return nil, len(targets), nil
	}
	sel := func(t health.Target) bool {
		for k, v := range labels {
			if got, ok := t.Labels[k]; !ok || got != v {
				return false
			}
		}
		return true
	}
	n := 0
	known := map[string]bool{}
	for _, t := range targets {
		if sel(t) {
			n++
		}
		for k, v := range t.Labels {
			known[k+"="+v] = true
		}
	}
	if n > 0 {
		return sel, n, nil
	}
	asked, _ := json.Marshal(labels)
	have := "no target has labels"
	if len(known) > 0 {
		list := make([]string, 0, len(known))
		for kv := range known {
			list = append(list, kv)
		}
		sort.Strings(list)
		if len(list) > 20 {
			list = append(list[:20], fmt.Sprintf("and %d more", len(list)-20))
		}
		have = "the targets' labels are " + strings.Join(list, ", ")
	}
	return nil, 0, &PayloadError{
		Field:   "labels",
		Problem: fmt.Sprintf("labels %s select none of the %d configured targets (%s)", asked, len(targets), have),
	}
}

// Fetch margins: a cycle stops fetching at the invocation's deadline minus
// max(timeout/marginDivisor, minMargin), so that its state is saved and its alerts sent before
// FC stops the invocation.
const (
	marginDivisor = 10
	minMargin     = 3 * time.Second
)

// fetchDeadline returns when the cycle must stop fetching, and false when ctx has no deadline.
// The margin is at most half the time left at now, so a short invocation still fetches.
func fetchDeadline(ctx context.Context, inv Invocation, now time.Time) (time.Time, bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return time.Time{}, false
	}
	timeout := inv.Timeout
	if timeout <= 0 {
		timeout = deadline.Sub(now)
	}
	margin := max(timeout/marginDivisor, minMargin)
	if left := deadline.Sub(now); margin > left/2 {
		margin = max(left/2, 0)
	}
	return deadline.Add(-margin), true
}

// TimerHandler returns the timer trigger's handler for fc.Start: one check cycle per
// invocation. It parses ev.Payload (see Payload; an invalid payload fails the invocation
// before state or CAMS is touched), uses the request id as the cycle id (so a platform retry
// of a completed cycle replays it instead of alerting twice), signs CAMS calls with the
// invocation's credentials (else the App's), stops fetching at the invocation's deadline minus
// max(10% of the timeout, 3 s) so that state is saved and alerts are sent in time, and returns the cycle's report, which the runtime
// sends as the invocation's JSON response. Every invocation logs exactly one line,
// "wahealth cycle", on logger.
func TimerHandler(a *app.App, logger *slog.Logger) func(ctx context.Context, ev events.TimerEvent) (*monitor.Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, ev events.TimerEvent) (_ *monitor.Report, err error) {
		start := time.Now()
		inv, _ := InvocationFromContext(ctx)
		attrs := []slog.Attr{
			slog.String("request_id", inv.RequestID),
			slog.Int("retry_count", inv.RetryCount),
			slog.String("trigger", deref(ev.TriggerName)),
		}
		fail := func(outcome string, err error) (*monitor.Report, error) {
			attrs = append(attrs, slog.String("outcome", outcome), slog.String("error", err.Error()),
				slog.Int64("duration_ms", time.Since(start).Milliseconds()))
			logger.LogAttrs(ctx, slog.LevelError, "wahealth cycle", attrs...)
			return nil, err
		}
		// A panic fails the invocation (FC retries it) instead of the SDK's exit of the process.
		defer func() {
			if p := recover(); p != nil {
				_, err = fail("panic", fmt.Errorf("check cycle panicked: %v", p))
			}
		}()

		p, err := ParsePayload(deref(ev.Payload))
		if err != nil {
			return fail("invalid_payload", err)
		}
		sel, selected, err := selectTargets(p.Labels, a.Monitor.Targets)
		if err != nil {
			return fail("invalid_payload", err)
		}
		mon := a.Monitor
		if i, n, _ := p.ShardOf(); n > 0 {
			m, inShard, err := a.Shard(ctx, i, n)
			if err != nil {
				return fail("failed", err)
			}
			mon, selected = m, 0
			labelSel := sel
			sel = func(t health.Target) bool { return inShard(t) && (labelSel == nil || labelSel(t)) }
			for _, t := range a.Monitor.Targets {
				if sel(t) {
					selected++
				}
			}
			attrs = append(attrs, slog.String("shard", p.Shard))
		}
		ctx, creds := inv.withCredentials(ctx)
		attrs = append(attrs, slog.String("credentials", creds), slog.Int("targets", selected), slog.Bool("dry_run", p.DryRun))

		opts := monitor.RunOptions{CycleID: inv.RequestID, DryRun: p.DryRun, Select: sel}
		if by, ok := fetchDeadline(ctx, inv, start); ok {
			opts.FetchBy = by
		}
		rep, err := mon.Run(ctx, opts)
		if err != nil {
			outcome := "failed"
			if errors.Is(err, monitor.ErrBusy) {
				outcome = "busy"
			}
			return fail(outcome, err)
		}
		alerted, undelivered := 0, 0
		for _, c := range rep.Changes {
			if c.Alerted {
				alerted++
			}
		}
		for _, d := range rep.Deliveries {
			if d.Status != "delivered" {
				undelivered++
			}
		}
		attrs = append(attrs,
			slog.String("outcome", "ok"),
			slog.String("cycle", rep.CycleID),
			slog.Int("checked", rep.Checked),
			slog.Int("failed", rep.Failed),
			slog.Int("entities", len(rep.Entities)),
			slog.Int("changes", len(rep.Changes)),
			slog.Int("alerted", alerted),
			slog.Int("deliveries", len(rep.Deliveries)),
			slog.Int("undelivered", undelivered),
			slog.Int("pending", rep.Pending),
			slog.Bool("baseline", rep.Baseline),
			slog.Bool("replayed", rep.Replayed),
			slog.Int64("duration_ms", time.Since(start).Milliseconds()),
		)
		level := slog.LevelInfo
		if rep.Failed > 0 || undelivered > 0 {
			level = slog.LevelWarn
		}
		logger.LogAttrs(ctx, level, "wahealth cycle", attrs...)
		return rep, nil
	}
}

// FailTimer returns a timer handler that fails every invocation with err (see Boot), logging
// it once per invocation.
func FailTimer(err error, logger *slog.Logger) func(ctx context.Context, ev events.TimerEvent) (*monitor.Report, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, _ events.TimerEvent) (*monitor.Report, error) {
		inv, _ := InvocationFromContext(ctx)
		logger.LogAttrs(ctx, slog.LevelError, "wahealth cycle", slog.String("request_id", inv.RequestID),
			slog.Int("retry_count", inv.RetryCount), slog.String("outcome", "not_started"), slog.String("error", err.Error()))
		return nil, err
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
