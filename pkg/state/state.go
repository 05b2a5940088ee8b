// Package state keeps wahealth's memory between check cycles: the last snapshot of every
// entity, per-target check history and the alerts still to deliver. Store is the interface the
// monitor uses; the file backend (an embedded single-file store) lives in this package and the
// cloud backends in sub-packages. Every backend passes the conformance suite in statetest.
package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/policy"
)

// SchemaVersion is the version of the State document this build reads and writes. A document
// with a higher version was written by a newer wahealth and is refused, never overwritten.
const SchemaVersion = 1

// State is the document a store keeps.
type State struct {
	// Schema is the document's schema version (SchemaVersion when written by this build).
	Schema int `json:"schema"`
	// Version is the store's revision of the document, the compare-and-swap token: 0 when
	// nothing is stored yet, incremented by every successful Save. Stores set it; callers
	// pass back what Load gave them.
	Version int64 `json:"version"`
	// UpdatedAt is when the document was last saved.
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	// Baseline is true once a first cycle has recorded the entities' initial state.
	Baseline bool `json:"baseline"`
	// LastCycle describes the last cycle that saved this document.
	LastCycle *Cycle `json:"lastCycle,omitempty"`
	// Snapshot is the last known state of every entity.
	Snapshot *health.Snapshot `json:"snapshot"`
	// Targets is the check history of each target, keyed by target id.
	Targets map[string]*Target `json:"targets,omitempty"`
	// Outbox holds alerts that were not delivered yet.
	Outbox []Pending `json:"outbox,omitempty"`
	// Delivered remembers the ids of recently delivered alerts (per notifier), so that a retried
	// invocation does not deliver them twice. Values are delivery times.
	Delivered map[string]time.Time `json:"delivered,omitempty"`
	// Alerting is the alert policy's memory of each entity (what people were last told), keyed
	// by entity key (TYPE:id).
	Alerting map[string]*policy.Memory `json:"alerting,omitempty"`
	// Silences are the silences created through the HTTP API (config silences live in config).
	Silences []policy.Silence `json:"silences,omitempty"`
	// LastDigest is when the last scheduled digest was due.
	LastDigest time.Time `json:"lastDigest,omitzero"`
	// Sweep is where the next cycle continues when the targets do not all fit in one.
	Sweep *Sweep `json:"sweep,omitempty"`
}

// Sweep is the cursor of a sweep over more targets than one cycle can check.
type Sweep struct {
	// Cursor is the id of the last target checked in sweep order.
	Cursor string `json:"cursor"`
}

// New returns an empty State of the current schema.
func New() *State {
	return &State{Schema: SchemaVersion, Snapshot: health.NewSnapshot(), Targets: map[string]*Target{}, Alerting: map[string]*policy.Memory{}}
}

// Cycle summarises one check cycle.
type Cycle struct {
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Checked    int       `json:"checked"`
	Failed     int       `json:"failed"`
}

// Target is the check history of one target.
type Target struct {
	// LastChecked is when a fetch last succeeded.
	LastChecked time.Time `json:"lastChecked,omitzero"`
	// LastAttempt is when a fetch was last tried.
	LastAttempt time.Time `json:"lastAttempt,omitzero"`
	// ConsecutiveFailures counts fetches failed in a row since the last success.
	ConsecutiveFailures int `json:"consecutiveFailures,omitempty"`
	// LastError is the last fetch error (never holding a secret).
	LastError string `json:"lastError,omitempty"`
	// FailingSince is when the current run of failures began.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// FailureAlerted is true once a "cannot check" alert went out for the current run.
	FailureAlerted bool `json:"failureAlerted,omitempty"`
}

// Pending is an alert waiting in the outbox for one notifier.
type Pending struct {
	// ID is the alert's stable idempotency key.
	ID string `json:"id"`
	// Notifier names the notifier that still has to deliver it.
	Notifier string `json:"notifier"`
	// Message is the alert, encoded by the notify package.
	Message []byte `json:"message"`
	// CreatedAt is when the alert was first produced.
	CreatedAt time.Time `json:"createdAt"`
	// Attempts counts failed deliveries so far.
	Attempts int `json:"attempts"`
	// LastError is the last delivery error (never holding a secret).
	LastError string `json:"lastError,omitempty"`
}

// Store keeps the State document. Implementations are safe for concurrent use by several
// goroutines and processes.
type Store interface {
	// Load returns the stored document, or New() with Version 0 when there is none. A corrupt
	// document returns a *CorruptError and one written by a newer schema a *SchemaError.
	Load(ctx context.Context) (*State, error)
	// Save stores s if the stored version still equals s.Version (compare-and-swap; 0 means
	// "nothing stored yet"), then sets s.Version to the new version. If another writer saved in
	// between it returns an error matching ErrConflict and stores nothing.
	Save(ctx context.Context, s *State) error
	// Lock takes the cycle lease: while one holder has it, Lock by anyone else returns an error
	// matching ErrLocked at once. A lease whose holder dies without releasing it is given up:
	// after ttl in the cloud backends, when the process ends for the file backend (an OS lock).
	Lock(ctx context.Context, owner string, ttl time.Duration) (Lease, error)
	// Quarantine moves the stored document aside — kept under a new name, never deleted — so
	// that the next Load starts from nothing (a fresh baseline). It is how a corrupt or
	// newer-schema document is handled without losing it. It returns where the copy went ("" when
	// there was nothing stored).
	Quarantine(ctx context.Context) (string, error)
	// Close releases the store's resources.
	Close() error
}

// Lease is a held cycle lease.
type Lease interface {
	// Release gives the lease up. Releasing twice is harmless.
	Release(ctx context.Context) error
}

// ErrConflict is matched (errors.Is) by a Save that lost a compare-and-swap race.
var ErrConflict = errors.New("state was changed by another writer")

// ErrLocked is matched (errors.Is) by a Lock while another cycle holds the lease.
var ErrLocked = errors.New("another check cycle holds the state")

// CorruptError reports a stored document that cannot be decoded. The damaged copy is left
// in place (or set aside) and never silently overwritten.
type CorruptError struct {
	// Where names the file, object or row.
	Where string
	// Err is the decoding error.
	Err error
}

// Error describes the damage and where it is.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("state %s is corrupt: %v (move it aside or delete it to start a fresh baseline)", e.Where, e.Err)
}

// Unwrap returns the decoding error.
func (e *CorruptError) Unwrap() error { return e.Err }

// SchemaError reports a document written with a schema this build does not know.
type SchemaError struct {
	// Where names the file, object or row.
	Where string
	// Found is the schema version the document declares.
	Found int
}

// Error names the versions.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("state %s has schema version %d, this wahealth reads up to %d: upgrade wahealth or move the state aside", e.Where, e.Found, SchemaVersion)
}
