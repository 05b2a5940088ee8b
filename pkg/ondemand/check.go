package ondemand

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/monitor"
)

// CheckRequest is the optional JSON body of POST /check.
type CheckRequest struct {
	// Labels selects the configured targets whose labels contain all these pairs (all
	// targets when empty).
	Labels map[string]string `json:"labels,omitempty"`
	// Notify (default true) false means: check and report, but neither alert nor save, like
	// DryRun. A cycle that saved what it found without alerting would lose the alert for
	// good: the next cycle compares with the saved state and sees no change.
	Notify *bool `json:"notify,omitempty"`
	// DryRun checks and reports, but neither alerts nor saves.
	DryRun bool `json:"dryRun,omitempty"`
}

// cycle answers POST /check: one full check cycle now, the same code as the timer's.
func (h *handler) cycle(w http.ResponseWriter, r *http.Request) error {
	req, err := decodeCheckRequest(r.Body)
	if err != nil {
		return err
	}
	opts := monitor.RunOptions{
		CycleID: monitor.NewCycleID(h.o.Now()),
		DryRun:  req.DryRun || (req.Notify != nil && !*req.Notify),
	}
	if len(req.Labels) > 0 {
		opts.Select = func(t health.Target) bool { return hasLabels(t, req.Labels) }
		if !slices.ContainsFunc(h.o.Monitor.Targets, opts.Select) {
			return &httpError{status: http.StatusBadRequest, code: "no_matching_targets", param: "labels",
				message: "labels: no configured target has all these labels"}
		}
	}
	annotate(r, slog.String("cycle", opts.CycleID), slog.Bool("dryRun", opts.DryRun))
	ctx, cancel := cycleContext(r)
	defer cancel()
	rep, err := h.o.Monitor.Run(ctx, opts)
	if err != nil {
		return cycleFailure(err)
	}
	return writeJSON(w, http.StatusOK, rep)
}

// cycleContext is the context of a cycle started by r: it keeps r's values (FC's credentials)
// and deadline (FC's invocation deadline), but a caller who hangs up does not cut the cycle
// short, so that a cycle, once started, checks, saves and alerts like the timer's.
func cycleContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(r.Context())
	if dl, ok := r.Context().Deadline(); ok {
		return context.WithDeadline(ctx, dl)
	}
	return context.WithCancel(ctx)
}

// decodeCheckRequest reads the optional body of POST /check. Unknown fields are errors, so
// that a misspelt "notfy": false does not alert.
func decodeCheckRequest(body io.Reader) (*CheckRequest, error) {
	b, err := io.ReadAll(body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(mbe.Limit)
	}
	if err != nil {
		return nil, &httpError{status: http.StatusBadRequest, code: "invalid_body", message: "cannot read the request body", cause: err}
	}
	req := &CheckRequest{}
	if len(bytes.TrimSpace(b)) == 0 {
		return req, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	bad := func(format string, args ...any) error {
		return &httpError{status: http.StatusBadRequest, code: "invalid_body", message: "body: " + fmt.Sprintf(format, args...)}
	}
	if err := dec.Decode(req); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return nil, bad("%s: want %s", te.Field, want(te.Field))
		case errors.As(err, &se):
			return nil, bad("invalid JSON at byte %d", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return nil, bad("unknown field %s (fields: labels, notify, dryRun)", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return nil, bad(`want a JSON object like {"labels":{"team":"support"},"notify":true,"dryRun":false}`)
	}
	if dec.More() {
		return nil, bad("want one JSON object, found more after it")
	}
	return req, nil
}

// want says what type a body field takes.
func want(field string) string {
	switch {
	case strings.HasPrefix(field, "labels"):
		return "an object of string values"
	case field == "notify" || field == "dryRun":
		return "true or false"
	}
	return "another type"
}

// hasLabels reports whether t's labels contain every pair of want.
func hasLabels(t health.Target, want map[string]string) bool {
	for k, v := range want {
		if got, ok := t.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// cycleFailure maps a cycle that could not run: 409 while another cycle holds the state.
func cycleFailure(err error) error {
	if errors.Is(err, monitor.ErrBusy) {
		return &httpError{status: http.StatusConflict, code: "busy",
			message: "another check cycle holds the state; try again when it has finished",
			header:  http.Header{"Retry-After": {"5"}}, cause: err}
	}
	return internal("the check cycle could not run; the log line with this request id has the cause", err)
}

// AdhocResult is the answer of GET /check: one target's health straight from CAMS.
type AdhocResult struct {
	// Target is what was checked.
	Target health.Target `json:"target"`
	// CanSendMessage is the overall value as Meta gives it (it can be BLOCKED for a
	// calling-only problem while every entity can send messages: judge by the entities).
	CanSendMessage health.Status `json:"canSendMessage"`
	// Entities are the normalised rows.
	Entities []health.Entity `json:"entities"`
	// Errors lists every entity's errors in one place.
	Errors []EntityError `json:"errors"`
	// CAMSRequestID is CAMS's request id of the call.
	CAMSRequestID string `json:"camsRequestId"`
	// CheckedAt is when the answer arrived.
	CheckedAt time.Time `json:"checkedAt"`
	// Attempts is how many calls it took.
	Attempts int `json:"attempts"`
	// Recorded is true when the check ran as a cycle and its result is in the state.
	Recorded bool `json:"recorded"`
	// Cycle is the report of that cycle (record=true only).
	Cycle *monitor.Report `json:"cycle,omitempty"`
}

// EntityError is one error of one entity.
type EntityError struct {
	Entity health.Key `json:"entity"`
	health.Error
}

// adhoc answers GET /check: parse, admit, call, answer.
func (h *handler) adhoc(w http.ResponseWriter, r *http.Request) error {
	t, record, err := parseTarget(r.URL.Query(), h.o.DefaultCustSpaceID)
	if err != nil {
		return err
	}
	if record {
		if t, err = h.configured(t); err != nil {
			return err
		}
	}
	if res := h.limiter.Reserve(); res.Delay() > 0 {
		d := res.Delay()
		res.Cancel()
		return &httpError{status: http.StatusTooManyRequests, code: "rate_limited",
			message: fmt.Sprintf("ad-hoc checks are limited to %g per second (http.adhocQPS); retry in %s", h.o.AdhocQPS, d.Round(time.Millisecond)),
			header:  http.Header{"Retry-After": {retryAfter(d)}}}
	}
	annotate(r, slog.String("target", t.ID()))
	if record {
		return h.recordCheck(w, r, t)
	}
	res, err := h.o.Adhoc.Check(r.Context(), t)
	if err != nil {
		return camsFailure(err)
	}
	return writeJSON(w, http.StatusOK, newAdhocResult(t, res, h.o.Now()))
}

// configured returns the configured target with t's identity: only those can be recorded.
func (h *handler) configured(t health.Target) (health.Target, error) {
	for _, c := range h.o.Monitor.Targets {
		if c.ID() == t.ID() {
			return c, nil
		}
	}
	return t, badParam("record", "true needs a configured target, and %s is not one: add it to targets, or check it without record", t.ID())
}

// recordCheck runs a cycle of the monitor limited to target t, so that the result is diffed,
// alerted and saved exactly as the timer would, under the state's lease. The cycle's source
// is wrapped to capture the call's own answer for the response.
func (h *handler) recordCheck(w http.ResponseWriter, r *http.Request, t health.Target) error {
	var out cams.Outcome
	id := t.ID()
	opts := monitor.RunOptions{CycleID: monitor.NewCycleID(h.o.Now()), Select: func(x health.Target) bool { return x.ID() == id },
		Observe: func(o cams.Outcome) { out = o }}
	annotate(r, slog.String("cycle", opts.CycleID))
	ctx, cancel := cycleContext(r)
	defer cancel()
	rep, err := h.o.Monitor.Run(ctx, opts)
	if err != nil {
		return cycleFailure(err)
	}
	if out.Err != nil {
		return camsFailure(out.Err) // the failure is recorded in the target's history
	}
	if out.Result == nil {
		return internal("the cycle did not check the target", fmt.Errorf("cycle %s: no outcome for %s", opts.CycleID, id))
	}
	res := newAdhocResult(t, out.Result, h.o.Now())
	res.Recorded, res.Cycle = true, rep
	return writeJSON(w, http.StatusOK, res)
}

func newAdhocResult(t health.Target, res *cams.Result, now time.Time) *AdhocResult {
	a := &AdhocResult{Target: t, CanSendMessage: res.Overall, Entities: res.Entities, Errors: []EntityError{},
		CAMSRequestID: res.RequestID, CheckedAt: now, Attempts: res.Attempts}
	if a.Entities == nil {
		a.Entities = []health.Entity{}
	}
	for _, e := range a.Entities {
		for _, x := range e.Errors {
			a.Errors = append(a.Errors, EntityError{Entity: e.Key(), Error: x})
		}
	}
	return a
}

// adhocParams are the query parameters GET /check knows.
var adhocParams = []string{"nodeType", "custSpaceId", "phoneNumber", "wabaId", "templateCode", "language", "record"}

// parseTarget reads the target of an ad-hoc check, naming the first bad parameter.
func parseTarget(q url.Values, defaultCustSpace string) (health.Target, bool, error) {
	var t health.Target
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(adhocParams, k) {
			return t, false, badParam(truncate(k, 40), "unknown parameter (parameters: %s)", strings.Join(adhocParams, ", "))
		}
		if len(q[k]) > 1 {
			return t, false, badParam(k, "give it once")
		}
		if len(q.Get(k)) > 128 {
			return t, false, badParam(k, "too long (at most 128 characters)")
		}
	}
	nt := strings.ToLower(strings.TrimSpace(q.Get("nodeType")))
	switch health.NodeType(nt) {
	case health.NodeWABA, health.NodePhone, health.NodeTemplate:
	case "":
		return t, false, badParam("nodeType", "required: one of waba, phone, template")
	default:
		return t, false, badParam("nodeType", "must be one of waba, phone, template")
	}
	t = health.Target{
		NodeType:     health.NodeType(nt),
		CustSpaceID:  strings.TrimSpace(q.Get("custSpaceId")),
		WabaID:       strings.TrimSpace(q.Get("wabaId")),
		PhoneNumber:  strings.TrimSpace(q.Get("phoneNumber")),
		TemplateCode: strings.TrimSpace(q.Get("templateCode")),
		Language:     strings.TrimSpace(q.Get("language")),
	}
	if t.CustSpaceID == "" {
		t.CustSpaceID = defaultCustSpace
	}
	if t.CustSpaceID == "" {
		return t, false, badParam("custSpaceId", "required (no default custSpaceId is configured)")
	}
	need := func(name, v string) error {
		if v == "" {
			return badParam(name, "required when nodeType is %s", nt)
		}
		return nil
	}
	forbid := func(name, v, usedWith string) error {
		if v != "" {
			return badParam(name, "only used when nodeType is %s", usedWith)
		}
		return nil
	}
	var errs []error
	switch t.NodeType {
	case health.NodePhone:
		errs = append(errs, need("phoneNumber", t.PhoneNumber), forbid("templateCode", t.TemplateCode, "template"), forbid("language", t.Language, "template"))
		if t.PhoneNumber != "" && !digits(health.NormalizePhone(t.PhoneNumber)) {
			errs = append(errs, badParam("phoneNumber", "must be a phone number with its country code, e.g. 8613800000001"))
		}
	case health.NodeTemplate:
		errs = append(errs, need("templateCode", t.TemplateCode), need("language", t.Language), forbid("phoneNumber", t.PhoneNumber, "phone"))
	case health.NodeWABA:
		errs = append(errs, need("wabaId", t.WabaID), forbid("phoneNumber", t.PhoneNumber, "phone"),
			forbid("templateCode", t.TemplateCode, "template"), forbid("language", t.Language, "template"))
	}
	for _, err := range errs {
		if err != nil {
			return t, false, err
		}
	}
	record := false
	if s := q.Get("record"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return t, false, badParam("record", "must be true or false")
		}
		record = b
	}
	return t, record, nil
}
