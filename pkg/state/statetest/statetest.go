// Package statetest is the conformance suite every state.Store backend runs: the file store,
// and the Tablestore and OSS backends against their fakes. A backend's test describes how to
// make, reopen and damage a store in a Harness and calls Run.
package statetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/state"
)

// Harness tells the suite how to make and damage a store of one backend. The suite closes
// every store it gets from New and Reopen when the test ends, so Close must tolerate a store
// whose data was damaged or whose backend was broken and restored.
type Harness struct {
	// New returns a fresh, empty store. Stores returned by separate New calls must not share
	// data (use t.TempDir, a fresh fake, a unique key prefix).
	New func(t *testing.T) state.Store
	// Reopen returns a second Store handle on the same underlying data as s, as another
	// process would open it. Used for concurrency and lock tests.
	Reopen func(t *testing.T, s state.Store) state.Store
	// PutRaw overwrites the stored document of s with raw bytes (to plant corrupt or
	// future-schema documents).
	PutRaw func(t *testing.T, s state.Store, raw []byte)
	// GetRaw returns the stored document bytes of s (to check that a refused save did not
	// overwrite it).
	GetRaw func(t *testing.T, s state.Store) []byte
	// Break makes s's backend unavailable and returns a func that restores it, or is nil when
	// the backend cannot simulate an outage. While broken, Load and Save must fail.
	Break func(t *testing.T, s state.Store) (restore func())
}

// writers and increments size the concurrent-writers case: writers goroutines, each with its own
// handle, each add increments to a shared counter with read-modify-write cycles.
const (
	writers    = 8
	increments = 10
)

// counterTarget is the target whose ConsecutiveFailures the concurrent-writers case increments.
const counterTarget = "counter"

// cmpOpts compares documents as they survive JSON: an empty map or slice equals a nil one, and
// times compare with time.Time.Equal (cmp's default for types with an Equal method).
var cmpOpts = cmp.Options{cmpopts.EquateEmpty()}

// Run runs the conformance suite against the backend h describes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil || h.Reopen == nil || h.PutRaw == nil || h.GetRaw == nil {
		t.Fatal("statetest: Harness needs New, Reopen, PutRaw and GetRaw")
	}
	r := &runner{h: h}
	t.Run("NoStateYet", r.noStateYet)
	t.Run("RoundTrip", r.roundTrip)
	t.Run("ZeroValueState", r.zeroValueState)
	t.Run("CompareAndSwap", r.compareAndSwap)
	t.Run("ConcurrentWriters", r.concurrentWriters)
	t.Run("CancelledSave", r.cancelledSave)
	t.Run("Corrupt", r.corrupt)
	t.Run("FutureSchema", r.futureSchema)
	t.Run("Lock", r.lock)
	t.Run("Unavailable", r.unavailable)
	t.Run("Quarantine", r.quarantine)
}

type runner struct{ h Harness }

// open returns a fresh store, closed when t ends.
func (r *runner) open(t *testing.T) state.Store {
	t.Helper()
	s := r.h.New(t)
	if s == nil {
		t.Fatal("Harness.New returned nil")
	}
	closeAtEnd(t, s)
	return s
}

// reopen returns another handle on s's data, closed when t ends.
func (r *runner) reopen(t *testing.T, s state.Store) state.Store {
	t.Helper()
	o := r.h.Reopen(t, s)
	if o == nil {
		t.Fatal("Harness.Reopen returned nil")
	}
	closeAtEnd(t, o)
	return o
}

func closeAtEnd(t *testing.T, s state.Store) {
	t.Helper()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// load loads s and fails the test on error.
func load(t *testing.T, s state.Store) *state.State {
	t.Helper()
	st, err := s.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if st == nil {
		t.Fatal("Load returned a nil state and no error")
	}
	return st
}

// save saves st to s, fails the test on error and checks the version went up by one.
func save(t *testing.T, s state.Store, st *state.State) {
	t.Helper()
	before := st.Version
	if err := s.Save(t.Context(), st); err != nil {
		t.Fatalf("Save (version %d): %v", before, err)
	}
	if st.Version != before+1 {
		t.Fatalf("after Save, Version = %d, want %d", st.Version, before+1)
	}
}

// diff reports a difference between two documents.
func diff(t *testing.T, what string, want, got *state.State) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// Sample returns a document exercising every field of State: entities of known and unknown
// types and statuses, with errors, labels and sources, target histories, an outbox, delivered
// ids, a baseline flag and a last cycle. Every call returns an equal, independent value.
func Sample() *state.State {
	loc := time.FixedZone("UTC+8", 8*60*60)
	t0 := time.Date(2025, time.March, 14, 9, 26, 53, 589793238, loc)
	s := state.New()
	s.Baseline = true
	s.LastCycle = &state.Cycle{ID: "cycle-7", StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond), Checked: 4, Failed: 1}
	s.Snapshot.Add(health.Entity{
		Type: health.PhoneNumber, ID: "+8613800000000", CanSendMessage: health.Limited,
		Errors: []health.Error{
			{Code: "141006", Description: "Payment method issue", Solution: "Fix the card"},
			{Code: "100", Description: "Display name not approved"},
		},
		CustSpaceID: "cs-1", WabaID: "waba-1", BusinessID: "biz-1", PhoneNumber: "+86 138 0000 0000",
		Labels:  map[string]string{"team": "sales", "note": "quote \" <html> & ünïcode ✓"},
		Sources: []string{"t2", "t1"},
	})
	// A second observation of the same phone, merged by Add.
	s.Snapshot.Add(health.Entity{Type: health.PhoneNumber, ID: "+8613800000000", CanSendMessage: health.Available,
		Sources: []string{"t3"}, Labels: map[string]string{"env": "prod"}})
	s.Snapshot.Add(health.Entity{Type: health.Template, ID: "tpl-9", CanSendMessage: health.Available,
		TemplateCode: "order_shipped", Language: "zh_CN", WabaID: "waba-1", Sources: []string{"t1"}})
	s.Snapshot.Add(health.Entity{Type: health.WABA, ID: "waba-1", CanSendMessage: health.Available, BusinessID: "biz-1"})
	s.Snapshot.Add(health.Entity{Type: health.Business, ID: "biz-1", CanSendMessage: health.Blocked,
		Errors: []health.Error{{Code: "131031", Description: "Business account locked"}}})
	s.Snapshot.Add(health.Entity{Type: "FLOW", ID: "flow:1/é", CanSendMessage: "WEIRD", Sources: []string{"t1"}})
	s.Snapshot.Add(health.Entity{Type: health.App, ID: "app-1"}) // no status reported
	s.Targets = map[string]*state.Target{
		"t1": {LastChecked: t0, LastAttempt: t0},
		"t2": {LastChecked: t0.Add(-time.Hour), LastAttempt: t0, ConsecutiveFailures: 3,
			LastError: "cams: throttled", FailingSince: t0.Add(-50 * time.Minute), FailureAlerted: true},
	}
	s.Outbox = []state.Pending{
		{ID: "alert-1", Notifier: "slack", Message: []byte(`{"text":"phone LIMITED"}`), CreatedAt: t0, Attempts: 2, LastError: "timeout"},
		{ID: "alert-2", Notifier: "webhook", Message: []byte{0, 1, 2, 0xfe, 0xff}, CreatedAt: t0.Add(time.Second)},
	}
	s.Delivered = map[string]time.Time{
		"dingtalk/alert-0": t0.Add(-time.Hour),
		"slack/alert-0":    t0.Add(-time.Hour).UTC(),
	}
	return s
}

const sampleEntities = 6

func (r *runner) noStateYet(t *testing.T) {
	s := r.open(t)
	got := load(t, s)
	if got.Version != 0 || got.Schema != state.SchemaVersion {
		t.Errorf("empty store: Version %d, Schema %d; want 0, %d", got.Version, got.Schema, state.SchemaVersion)
	}
	if got.Snapshot == nil {
		t.Fatal("empty store: Snapshot is nil, want an empty snapshot")
	}
	if got.Targets == nil {
		t.Error("empty store: Targets is nil, want an empty map")
	}
	diff(t, "empty store", state.New(), got)
}

func (r *runner) roundTrip(t *testing.T) {
	s := r.open(t)
	st := Sample()
	if n := st.Snapshot.Len(); n != sampleEntities {
		t.Fatalf("sample has %d entities, want %d", n, sampleEntities)
	}
	before := time.Now()
	save(t, s, st)
	if st.Version != 1 || st.Schema != state.SchemaVersion {
		t.Errorf("after first Save: Version %d, Schema %d; want 1, %d", st.Version, st.Schema, state.SchemaVersion)
	}
	if st.UpdatedAt.Before(before.Add(-time.Minute)) || st.UpdatedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("after Save, UpdatedAt = %v, want about %v", st.UpdatedAt, before)
	}
	want := Sample()
	want.Version, want.UpdatedAt = 1, st.UpdatedAt
	diff(t, "saved state after Save", want, st)

	other := r.reopen(t, s)
	got := load(t, other)
	diff(t, "loaded from another handle", want, got)

	// What Load returns is the caller's: changing it, or the saved value, changes nothing stored.
	got.Snapshot.Entities[health.Key{Type: health.WABA, ID: "waba-1"}].CanSendMessage = health.Blocked
	got.Targets["t1"].ConsecutiveFailures = 42
	st.Outbox[0].Attempts = 99
	diff(t, "reloaded after changing loaded values", want, load(t, s))

	// A second save: drop the outbox, add an entity, deliver an alert.
	next := load(t, other)
	next.Outbox = nil
	next.Snapshot.Add(health.Entity{Type: health.PhoneNumber, ID: "+15550000000", CanSendMessage: health.Available})
	next.Delivered["slack/alert-1"] = want.LastCycle.FinishedAt
	save(t, other, next)
	if next.Version != 2 {
		t.Errorf("after second Save, Version = %d, want 2", next.Version)
	}
	want2 := Sample()
	want2.Version, want2.UpdatedAt = 2, next.UpdatedAt
	want2.Outbox = nil
	want2.Snapshot.Add(health.Entity{Type: health.PhoneNumber, ID: "+15550000000", CanSendMessage: health.Available})
	want2.Delivered["slack/alert-1"] = want2.LastCycle.FinishedAt
	diff(t, "second save, loaded from the first handle", want2, load(t, s))
	if n := load(t, s).Snapshot.Len(); n != sampleEntities+1 {
		t.Errorf("after second save: %d entities, want %d", n, sampleEntities+1)
	}
}

func (r *runner) zeroValueState(t *testing.T) {
	s := r.open(t)
	st := &state.State{}
	save(t, s, st)
	if st.Schema != state.SchemaVersion {
		t.Errorf("after Save of a zero State, Schema = %d, want %d", st.Schema, state.SchemaVersion)
	}
	got := load(t, s)
	if got.Snapshot == nil || got.Targets == nil {
		t.Fatalf("loaded zero State: Snapshot %v, Targets %v; want both non-nil", got.Snapshot, got.Targets)
	}
	want := state.New()
	want.Version, want.UpdatedAt = 1, st.UpdatedAt
	diff(t, "zero State round trip", want, got)
}

func (r *runner) compareAndSwap(t *testing.T) {
	tests := []struct {
		name string
		seed int   // saves before the race
		bump int64 // added to the loser's Version before its Save (a version never issued)
	}{
		{name: "create race", seed: 0},
		{name: "update race", seed: 2},
		{name: "version from the future", seed: 1, bump: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := r.open(t)
			for i := range tc.seed {
				st := load(t, s)
				st.LastCycle = &state.Cycle{ID: fmt.Sprintf("seed-%d", i)}
				save(t, s, st)
			}
			other := r.reopen(t, s)
			a, b := load(t, s), load(t, other)
			if a.Version != int64(tc.seed) || b.Version != int64(tc.seed) {
				t.Fatalf("loaded versions %d and %d, want %d", a.Version, b.Version, tc.seed)
			}
			a.LastCycle = &state.Cycle{ID: "winner"}
			if tc.bump == 0 {
				save(t, s, a)
			}
			b.LastCycle = &state.Cycle{ID: "loser"}
			b.Version += tc.bump
			stale := b.Version
			err := other.Save(t.Context(), b)
			if !errors.Is(err, state.ErrConflict) {
				t.Fatalf("stale Save at version %d: err = %v, want ErrConflict", stale, err)
			}
			if b.Version != stale {
				t.Errorf("refused Save changed Version from %d to %d", stale, b.Version)
			}
			got := load(t, other)
			wantID, wantVersion := "winner", int64(tc.seed+1)
			if tc.bump != 0 {
				wantID, wantVersion = fmt.Sprintf("seed-%d", tc.seed-1), int64(tc.seed)
			}
			if got.LastCycle == nil || got.LastCycle.ID != wantID || got.Version != wantVersion {
				t.Errorf("after the race the store holds %+v at version %d, want cycle %q at version %d", got.LastCycle, got.Version, wantID, wantVersion)
			}
		})
	}
}

func (r *runner) concurrentWriters(t *testing.T) {
	s := r.open(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	handles := make([]state.Store, writers)
	for i := range handles {
		handles[i] = r.reopen(t, s)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conflicts int
	)
	for w, h := range handles {
		wg.Go(func() {
			for i := 0; i < increments; {
				if ctx.Err() != nil {
					t.Errorf("writer %d: gave up after %d increments: %v", w, i, ctx.Err())
					return
				}
				st, err := h.Load(ctx)
				if err != nil {
					t.Errorf("writer %d: Load: %v", w, err)
					return
				}
				if st.Targets == nil {
					t.Errorf("writer %d: Load returned nil Targets, want an empty map", w)
					return
				}
				c := st.Targets[counterTarget]
				if c == nil {
					c = &state.Target{}
					st.Targets[counterTarget] = c
				}
				c.ConsecutiveFailures++
				switch err := h.Save(ctx, st); {
				case err == nil:
					i++
				case errors.Is(err, state.ErrConflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
				default:
					t.Errorf("writer %d: Save: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := load(t, s)
	const want = writers * increments
	n := 0
	if c := got.Targets[counterTarget]; c != nil {
		n = c.ConsecutiveFailures
	}
	if n != want || got.Version != want {
		t.Errorf("after %d writers x %d increments: counter %d, Version %d; want %d and %d (%d conflicts retried)",
			writers, increments, n, got.Version, want, want, conflicts)
	}
}

func (r *runner) cancelledSave(t *testing.T) {
	s := r.open(t)
	st := load(t, s)
	st.LastCycle = &state.Cycle{ID: "first"}
	save(t, s, st)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	st.LastCycle = &state.Cycle{ID: "cancelled"}
	if err := s.Save(ctx, st); err == nil {
		t.Fatal("Save with a cancelled context succeeded")
	}
	if st.Version != 1 {
		t.Errorf("failed Save changed Version to %d, want 1", st.Version)
	}
	if got := load(t, s); got.LastCycle == nil || got.LastCycle.ID != "first" || got.Version != 1 {
		t.Errorf("after a cancelled Save the store holds %+v at version %d, want cycle \"first\" at 1", got.LastCycle, got.Version)
	}
}

// refusesToOverwrite checks that neither a fresh Save nor one at version want leaves s's raw
// document other than raw.
func refusesToOverwrite(t *testing.T, s state.Store, getRaw func(*testing.T, state.Store) []byte, raw []byte, versions ...int64) {
	t.Helper()
	for _, v := range versions {
		st := Sample()
		st.Version = v
		if err := s.Save(t.Context(), st); err == nil {
			t.Errorf("Save at version %d over a damaged document succeeded", v)
		} else if st.Version != v {
			t.Errorf("refused Save changed Version from %d to %d", v, st.Version)
		}
		if got := getRaw(t, s); string(got) != string(raw) {
			t.Errorf("after a refused Save at version %d the stored document is %q, want %q", v, trunc(got), trunc(raw))
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func (r *runner) corrupt(t *testing.T) {
	valid, err := state.Encode(Sample())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"garbage", []byte("this is not json \x00\xff\xfe")},
		{"empty", []byte{}},
		{"truncated", valid[:len(valid)/2]},
		{"trailing garbage", append(append([]byte{}, valid...), "}}"...)},
		{"no schema", []byte(`{"version":3,"snapshot":[]}`)},
		{"JSON null", []byte("null")},
		{"wrong shape", []byte(`{"schema":1,"version":1,"snapshot":{"not":"a list"}}`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := r.open(t)
			r.h.PutRaw(t, s, tc.raw)
			_, err := s.Load(t.Context())
			var ce *state.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Load of a corrupt document: err = %v, want a *state.CorruptError", err)
			}
			if ce.Where == "" || !strings.Contains(err.Error(), ce.Where) {
				t.Errorf("corrupt error %q does not name where the document is (Where %q)", err, ce.Where)
			}
			_, err = r.reopen(t, s).Load(t.Context())
			if !errors.As(err, &ce) {
				t.Errorf("Load from another handle: err = %v, want a *state.CorruptError", err)
			}
			refusesToOverwrite(t, s, r.h.GetRaw, tc.raw, 0, 1, 3)
		})
	}
}

func (r *runner) futureSchema(t *testing.T) {
	raw := []byte(`{"schema":99,"version":3,"baseline":true,"snapshot":[],"hologram":{"x":1}}`)
	s := r.open(t)
	r.h.PutRaw(t, s, raw)
	_, err := s.Load(t.Context())
	var se *state.SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("Load of a schema-99 document: err = %v, want a *state.SchemaError", err)
	}
	if se.Found != 99 {
		t.Errorf("SchemaError.Found = %d, want 99", se.Found)
	}
	if se.Where == "" || !strings.Contains(err.Error(), se.Where) {
		t.Errorf("schema error %q does not name where the document is (Where %q)", err, se.Where)
	}
	refusesToOverwrite(t, s, r.h.GetRaw, raw, 0, 3, 4)
}

func (r *runner) lock(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	a := r.open(t)
	b := r.reopen(t, a)
	const ownerA, ownerB = "cycle-A@host-1", "cycle-B@host-2"

	la, err := a.Lock(ctx, ownerA, time.Minute)
	if err != nil {
		t.Fatalf("Lock by %s: %v", ownerA, err)
	}
	for _, try := range []struct {
		name  string
		s     state.Store
		owner string
	}{
		{"another handle", b, ownerB},
		{"the holder's handle, another owner", a, "cycle-C"},
	} {
		start := time.Now()
		l, err := try.s.Lock(ctx, try.owner, time.Minute)
		if !errors.Is(err, state.ErrLocked) {
			if l != nil {
				_ = l.Release(ctx)
			}
			t.Fatalf("Lock through %s while %s holds the lease: err = %v, want ErrLocked", try.name, ownerA, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("refused Lock through %s took %v, want an immediate answer", try.name, el)
		}
		if !strings.Contains(err.Error(), ownerA) {
			t.Errorf("refused Lock error %q does not name the holder %q", err, ownerA)
		}
	}

	// The holder still saves while holding the lease.
	st := load(t, a)
	st.LastCycle = &state.Cycle{ID: "under lease"}
	saveCtx, cancelSave := context.WithTimeout(ctx, 5*time.Second)
	defer cancelSave()
	if err := a.Save(saveCtx, st); err != nil || st.Version != 1 {
		t.Fatalf("Save by the lease holder: err = %v, Version %d; want nil, 1", err, st.Version)
	}

	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Errorf("second Release: %v, want nil", err)
	}
	lb, err := b.Lock(ctx, ownerB, time.Minute)
	if err != nil {
		t.Fatalf("Lock by %s after %s released: %v", ownerB, ownerA, err)
	}
	if _, err := a.Lock(ctx, ownerA, time.Minute); !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), ownerB) {
		t.Errorf("Lock by %s while %s holds the lease: err = %v, want ErrLocked naming %s", ownerA, ownerB, err, ownerB)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatalf("Release by %s: %v", ownerB, err)
	}
	la2, err := a.Lock(ctx, ownerA, time.Minute)
	if err != nil {
		t.Fatalf("Lock by %s after every lease was released: %v", ownerA, err)
	}
	if err := la2.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Errorf("Release of an already released lease after another holder came and went: %v", err)
	}
}

func (r *runner) unavailable(t *testing.T) {
	if r.h.Break == nil {
		t.Skip("the backend cannot simulate an outage")
	}
	s := r.open(t)
	seed := load(t, s)
	seed.LastCycle = &state.Cycle{ID: "before outage"}
	save(t, s, seed)

	st := load(t, s)
	st.LastCycle = &state.Cycle{ID: "during outage"}
	restore := r.h.Break(t, s)
	restored := false
	defer func() {
		if !restored {
			restore()
		}
	}()
	err := s.Save(t.Context(), st)
	if err == nil {
		t.Fatal("Save succeeded while the backend was unavailable")
	}
	if errors.Is(err, state.ErrConflict) {
		t.Errorf("Save during an outage: err = %v, want an error that is not ErrConflict", err)
	}
	if st.Version != 1 {
		t.Errorf("failed Save changed Version to %d, want 1", st.Version)
	}
	if got, err := s.Load(t.Context()); err == nil {
		t.Errorf("Load during an outage succeeded (version %d), want an error: an outage must not look like an empty store", got.Version)
	}
	restore()
	restored = true

	save(t, s, st)
	got := load(t, r.reopen(t, s))
	if got.Version != 2 || got.LastCycle == nil || got.LastCycle.ID != "during outage" {
		t.Errorf("after the outage the store holds %+v at version %d, want cycle \"during outage\" at 2", got.LastCycle, got.Version)
	}
}

// quarantine: a corrupt document is moved aside (still readable there) and the store starts
// empty; quarantining an empty store is harmless.
func (r *runner) quarantine(t *testing.T) {
	s := r.open(t)
	if where, err := s.Quarantine(t.Context()); err != nil || where != "" {
		t.Fatalf("Quarantine of an empty store = %q, %v; want \"\", nil", where, err)
	}
	garbage := []byte("{not json")
	r.h.PutRaw(t, s, garbage)
	if _, err := s.Load(t.Context()); err == nil {
		t.Fatal("Load of garbage succeeded")
	}
	where, err := s.Quarantine(t.Context())
	if err != nil || where == "" {
		t.Fatalf("Quarantine = %q, %v", where, err)
	}
	st := load(t, r.reopen(t, s))
	if st.Version != 0 || st.Snapshot.Len() != 0 {
		t.Errorf("after Quarantine, Load = version %d with %d entities, want a fresh state", st.Version, st.Snapshot.Len())
	}
	save(t, s, st)
	if got := load(t, s); got.Version != 1 {
		t.Errorf("after a fresh save, version %d, want 1", got.Version)
	}
}
