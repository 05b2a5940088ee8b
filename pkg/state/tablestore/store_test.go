package tablestore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ots "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/state"
	"github.com/wahealth/wahealth/pkg/state/statetest"
	"github.com/wahealth/wahealth/pkg/state/tablestore/otsfake"
)

const (
	testTable  = "wahealth_state"
	testID     = "LTAI-test-key"
	testSecret = "s3cr3t-never-printed"
)

var testCreds = cams.Credentials{AccessKeyID: testID, AccessKeySecret: testSecret}

// env is one fake and the options its stores were opened with.
type env struct {
	fake *otsfake.Server
	opts Options
}

// envs maps every store a test opened to its env, for the harness's Reopen, PutRaw, GetRaw
// and Break.
var envs sync.Map

// newEnv starts a fake that accepts testCreds, closed when t ends.
func newEnv(t *testing.T, fo otsfake.Options) *env {
	t.Helper()
	if fo.Credentials == nil {
		fo.Credentials = []otsfake.Credential{{AccessKeyID: testID, AccessKeySecret: testSecret}}
	}
	f := otsfake.New(fo)
	t.Cleanup(f.Close)
	return &env{fake: f, opts: Options{
		Endpoint:    f.URL(),
		Instance:    f.Instance(),
		Table:       testTable,
		Credentials: func(context.Context) cams.Credentials { return testCreds },
	}}
}

// open opens a store on e (with edit applied to a copy of its options), closed when t ends.
func (e *env) open(t *testing.T, edit func(*Options)) *Store {
	t.Helper()
	o := e.opts
	if edit != nil {
		edit(&o)
	}
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	envs.Store(s, e)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func envOf(t *testing.T, s state.Store) (*env, *Store) {
	t.Helper()
	ts, ok := s.(*Store)
	if !ok {
		t.Fatalf("store is a %T", s)
	}
	e, ok := envs.Load(ts)
	if !ok {
		t.Fatal("store not opened by this test's harness")
	}
	return e.(*env), ts
}

// newStore is a store on a fresh fake whose table CreateTable made.
func newStore(t *testing.T) (*env, *Store) {
	t.Helper()
	e := newEnv(t, otsfake.Options{})
	s := e.open(t, nil)
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return e, s
}

func scopeKey(s *Store, suffix string) otsfake.Cell {
	return otsfake.Cell{Name: pkName, Value: s.opts.Scope + suffix}
}

// putRaw stores raw as the document of s's row exactly as a Save lays it out: gzip, chunks,
// digest, and the version and schema the JSON claims (version 1 when it claims none). The
// corrupt and future-schema cases thus carry a valid version column, so only Save's own
// checks keep them from being overwritten.
func putRaw(t *testing.T, s state.Store, raw []byte) {
	t.Helper()
	e, ts := envOf(t, s)
	var probe struct {
		Version *int64 `json:"version"`
		Schema  *int   `json:"schema"`
	}
	_ = json.Unmarshal(raw, &probe)
	version := int64(1)
	if probe.Version != nil && *probe.Version > 0 {
		version = *probe.Version
	}
	var cells []otsfake.Cell
	for _, c := range docColumns(compress(raw), version, 0, time.Now()) {
		if c.ColumnName == colSchema {
			if probe.Schema == nil {
				continue
			}
			c.Value = int64(*probe.Schema)
		}
		cells = append(cells, otsfake.Cell{Name: c.ColumnName, Value: c.Value})
	}
	setRow(t, e, ts, cells...)
}

func setRow(t *testing.T, e *env, s *Store, cells ...otsfake.Cell) {
	t.Helper()
	if err := e.fake.SetRow(s.opts.Table, otsfake.Row{PrimaryKey: []otsfake.Cell{scopeKey(s, "")}, Columns: cells}); err != nil {
		t.Fatal(err)
	}
}

// getRaw returns the uncompressed document stored in s's row, nil when there is none.
func getRaw(t *testing.T, s state.Store) []byte {
	t.Helper()
	e, ts := envOf(t, s)
	row, ok := e.fake.Row(ts.opts.Table, scopeKey(ts, ""))
	if !ok {
		return nil
	}
	chunks, _ := mustColumn(t, row, colChunks).(int64)
	var packed []byte
	for i := range chunks {
		packed = append(packed, mustColumn(t, row, colDocPrefix+strconv.FormatInt(i, 10)).([]byte)...)
	}
	raw, err := inflate(packed)
	if err != nil {
		t.Fatalf("stored document: %v", err)
	}
	return raw
}

func mustColumn(t *testing.T, row otsfake.Row, name string) any {
	t.Helper()
	c, ok := row.Column(name)
	if !ok {
		t.Fatalf("row has no column %s", name)
	}
	return c.Value
}

var harness = statetest.Harness{
	New: func(t *testing.T) state.Store {
		_, s := newStore(t)
		return s
	},
	Reopen: func(t *testing.T, s state.Store) state.Store {
		e, ts := envOf(t, s)
		return e.open(t, func(o *Options) { o.Scope = ts.opts.Scope })
	},
	PutRaw: putRaw,
	GetRaw: getRaw,
	Break: func(t *testing.T, s state.Store) func() {
		e, _ := envOf(t, s)
		e.fake.Break()
		return e.fake.Restore
	},
}

func TestConformance(t *testing.T) {
	t.Parallel()
	statetest.Run(t, harness)
}

// TestConflictIsConditionCheckFail checks that a lost race is decided by Tablestore's
// condition, not by a read in the client.
func TestConflictIsConditionCheckFail(t *testing.T) {
	e, a := newStore(t)
	b := e.open(t, nil)
	ctx := t.Context()
	seed, _ := a.Load(ctx)
	if err := a.Save(ctx, seed); err != nil {
		t.Fatal(err)
	}
	sa, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, sa); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	before := e.fake.Answered("OTSConditionCheckFail")
	err = b.Save(ctx, sb)
	if !errors.Is(err, state.ErrConflict) {
		t.Fatalf("second writer: err = %v, want ErrConflict", err)
	}
	if got := e.fake.Answered("OTSConditionCheckFail") - before; got != 1 {
		t.Errorf("the fake answered OTSConditionCheckFail %d times, want 1", got)
	}
	if !strings.Contains(err.Error(), "expected version 1, found version 2") || !strings.Contains(err.Error(), b.Where()) {
		t.Errorf("conflict error %q does not say what was expected and found where", err)
	}
}

// TestSaveReconcilesLostAnswer: a write that landed but whose answer was lost (a 503 after
// applying) is retried, refused by its own condition, and recognised as done.
func TestSaveReconcilesLostAnswer(t *testing.T) {
	e, s := newStore(t)
	ctx := t.Context()
	for want := int64(1); want <= 2; want++ {
		st, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.LastCycle = &state.Cycle{ID: fmt.Sprint("cycle-", want)}
		e.fake.Inject(otsfake.Fault{Action: "PutRow", AfterApply: true})
		if err := s.Save(ctx, st); err != nil || st.Version != want {
			t.Fatalf("Save whose answer was lost: err = %v, version %d; want nil, %d", err, st.Version, want)
		}
		got, err := e.open(t, nil).Load(ctx)
		if err != nil || got.Version != want || got.LastCycle.ID != st.LastCycle.ID {
			t.Fatalf("after the reconciled Save: %v, %+v", err, got)
		}
	}
}

// TestSTSCredentials: an STS token is sent and checked.
func TestSTSCredentials(t *testing.T) {
	sts := cams.Credentials{AccessKeyID: "STS.key", AccessKeySecret: "sts-secret-never-printed", SecurityToken: "CAIS-token-never-printed"}
	e := newEnv(t, otsfake.Options{Credentials: []otsfake.Credential{{AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: sts.SecurityToken}}})
	good := e.open(t, func(o *Options) { o.Credentials = func(context.Context) cams.Credentials { return sts } })
	if err := good.CreateTable(t.Context()); err != nil {
		t.Fatalf("with the STS token: %v", err)
	}
	if _, err := good.Load(t.Context()); err != nil {
		t.Fatalf("Load with the STS token: %v", err)
	}
	for name, c := range map[string]cams.Credentials{
		"no token":    {AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret},
		"wrong token": {AccessKeyID: sts.AccessKeyID, AccessKeySecret: sts.AccessKeySecret, SecurityToken: "CAIS-forged"},
	} {
		s := e.open(t, func(o *Options) { o.Credentials = func(context.Context) cams.Credentials { return c } })
		_, err := s.Load(t.Context())
		if Code(err) != "OTSAuthFailed" {
			t.Errorf("%s: err = %v, want OTSAuthFailed", name, err)
		}
		assertNoSecrets(t, err, sts.AccessKeySecret, sts.SecurityToken, "CAIS-forged")
	}
}

func assertNoSecrets(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
			t.Errorf("error %q reveals a secret", err)
		}
	}
}

// TestCredentialsFromContext: the invocation's credentials (cams.WithCredentials) win over
// the static ones; without either, calls fail before any request.
func TestCredentialsFromContext(t *testing.T) {
	rotated := cams.Credentials{AccessKeyID: "STS.rotated", AccessKeySecret: "rotated-secret", SecurityToken: "CAIS-rotated"}
	e := newEnv(t, otsfake.Options{Credentials: []otsfake.Credential{{AccessKeyID: rotated.AccessKeyID, AccessKeySecret: rotated.AccessKeySecret, SecurityToken: rotated.SecurityToken}}})
	if err := e.fake.AddTable(testTable, otsfake.KeyColumn{Name: pkName, Type: otsprotocol.PrimaryKeyType_STRING}); err != nil {
		t.Fatal(err)
	}
	s := e.open(t, nil) // static credentials: testCreds, which the fake does not know
	if _, err := s.Load(t.Context()); Code(err) != "OTSAuthFailed" {
		t.Fatalf("with stale static credentials: err = %v, want OTSAuthFailed", err)
	}
	ctx := cams.WithCredentials(t.Context(), rotated)
	st, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("with the invocation's credentials: %v", err)
	}
	if err := s.Save(ctx, st); err != nil {
		t.Fatalf("Save with the invocation's credentials: %v", err)
	}
	l, err := s.Lock(ctx, "cycle", time.Minute)
	if err != nil {
		t.Fatalf("Lock with the invocation's credentials: %v", err)
	}
	if err := l.Release(context.WithoutCancel(ctx)); err != nil {
		t.Fatalf("Release with the invocation's credentials: %v", err)
	}

	none := e.open(t, func(o *Options) { o.Credentials = nil })
	before := e.fake.Requests()
	if _, err := none.Load(t.Context()); !errors.Is(err, cams.ErrNoCredentials) {
		t.Errorf("without credentials: err = %v, want ErrNoCredentials", err)
	}
	if e.fake.Requests() != before {
		t.Error("a request was sent without credentials")
	}
}

// TestSignatureMismatch: a wrong secret is refused by the signature check, with a clear
// error that holds no secret.
func TestSignatureMismatch(t *testing.T) {
	e, _ := newStore(t)
	const wrong = "wrong-secret-never-printed"
	s := e.open(t, func(o *Options) {
		o.Credentials = func(context.Context) cams.Credentials {
			return cams.Credentials{AccessKeyID: testID, AccessKeySecret: wrong}
		}
	})
	_, err := s.Load(t.Context())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "OTSAuthFailed" || ae.Message != "Signature mismatch." || ae.HTTPStatus != http.StatusForbidden {
		t.Fatalf("err = %v, want OTSAuthFailed Signature mismatch (HTTP 403)", err)
	}
	for _, want := range []string{s.Where(), "OTSAuthFailed", "Signature mismatch.", "access key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	assertNoSecrets(t, err, wrong, testSecret)
	if got := e.fake.AuthFailures(); len(got) != 1 || got[0] != "Signature mismatch." {
		t.Errorf("fake refused %v, want one signature mismatch (an auth failure is not retried)", got)
	}
}

// TestLargeDocumentChunks saves a document far over the 2 MB column limit and shrinks it
// again: chunks round-trip, and the chunks a smaller document no longer needs are gone. The
// entities carry random text so that the document stays over 2 MB after gzip; under the race
// detector there are fewer entities with more text each, the same bytes on the wire.
func TestLargeDocumentChunks(t *testing.T) {
	t.Parallel()
	e, s := newStore(t)
	ctx := t.Context()
	entities, text := 20000, 150
	if raceEnabled {
		entities, text = 5000, 600
	}
	big := state.New()
	for i := range entities {
		big.Snapshot.Add(health.Entity{
			Type: health.PhoneNumber, ID: "+" + strconv.Itoa(6500000000+i), CanSendMessage: health.Limited,
			Errors:  []health.Error{{Code: "131031", Description: randomText(text)}},
			WabaID:  "waba-" + strconv.Itoa(i%50),
			Sources: []string{"t" + strconv.Itoa(i)},
		})
	}
	if err := s.Save(ctx, big); err != nil {
		t.Fatalf("Save of %d entities: %v", entities, err)
	}
	row, _ := e.fake.Row(testTable, scopeKey(s, ""))
	chunks := mustColumn(t, row, colChunks).(int64)
	total := 0
	for i := range chunks {
		n := len(mustColumn(t, row, colDocPrefix+strconv.FormatInt(i, 10)).([]byte))
		if n > chunkSize {
			t.Errorf("chunk %d is %d bytes, over %d", i, n, chunkSize)
		}
		total += n
	}
	if chunks < 2 || total <= otsfake.MaxColumnValue {
		t.Fatalf("%d entities compress to %d bytes in %d chunks; the test needs more than one 2 MB column", entities, total, chunks)
	}
	t.Logf("%d entities: %d bytes compressed in %d chunks", entities, total, chunks)

	got, err := e.open(t, nil).Load(ctx)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Snapshot.Len() != entities || got.Version != 1 {
		t.Fatalf("loaded %d entities at version %d, want %d at 1", got.Snapshot.Len(), got.Version, entities)
	}
	k := health.Key{Type: health.PhoneNumber, ID: "+6500001234"}
	if g, w := got.Snapshot.Entities[k], big.Snapshot.Entities[k]; g == nil || g.Errors[0].Description != w.Errors[0].Description {
		t.Errorf("entity %v did not round-trip", k)
	}

	small := state.New()
	small.Version = got.Version
	if err := s.Save(ctx, small); err != nil {
		t.Fatalf("Save of a small document: %v", err)
	}
	row, _ = e.fake.Row(testTable, scopeKey(s, ""))
	for _, c := range row.Columns {
		if strings.HasPrefix(c.Name, colDocPrefix) && c.Name != colDocPrefix+"0" {
			t.Errorf("stale chunk %s survived the smaller document", c.Name)
		}
	}
	if got, err := s.Load(ctx); err != nil || got.Snapshot.Len() != 0 || got.Version != 2 {
		t.Errorf("after shrinking: %v, %d entities at version %d", err, got.Snapshot.Len(), got.Version)
	}
}

// randomText is n characters that do not compress (six bits of entropy each).
func randomText(n int) string {
	b := make([]byte, n*3/4+1)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// TestTooLarge: a document over the size limit is refused before any write.
func TestTooLarge(t *testing.T) {
	e, s := newStore(t)
	s.maxDoc = 64 << 10 // the real limit needs megabytes of random data to reach
	st := state.New()
	huge := make([]byte, 100<<10)
	_, _ = rand.Read(huge)
	st.Outbox = []state.Pending{{ID: "x", Notifier: "n", Message: huge}}
	before := e.fake.RequestsFor("PutRow")
	err := s.Save(t.Context(), st)
	if !errors.Is(err, ErrTooLarge) || st.Version != 0 {
		t.Fatalf("err = %v, version %d; want ErrTooLarge, 0", err, st.Version)
	}
	if e.fake.RequestsFor("PutRow") != before {
		t.Error("a PutRow was sent for a document that cannot fit")
	}
}

// TestLargestDocumentFits writes a row holding the largest document Save accepts, and
// quarantines it (the copy has two more columns): both fit Tablestore's limits as the fake
// enforces them (2 MB a column, 4 MB a row write, 5 MB a request).
func TestLargestDocumentFits(t *testing.T) {
	if raceEnabled {
		t.Skip("a size test, four seconds under the race detector: run without -race")
	}
	t.Parallel()
	e, s := newStore(t)
	packed := make([]byte, maxDocBytes)
	_, _ = rand.Read(packed)
	cols := docColumns(packed, 1, state.SchemaVersion, time.Now())
	if err := s.putRow(t.Context(), s.opts.Scope, cols, ots.RowExistenceExpectation_EXPECT_NOT_EXIST, nil); err != nil {
		t.Fatalf("PutRow of the largest document: %v", err)
	}
	where, err := s.Quarantine(t.Context())
	if err != nil {
		t.Fatalf("Quarantine of the largest document: %v", err)
	}
	key := strings.TrimPrefix(where, "tablestore wahealth/"+testTable+"/")
	cp, ok := e.fake.Row(testTable, otsfake.Cell{Name: pkName, Value: key})
	if !ok || len(cp.Columns) != len(cols)+2 {
		t.Fatalf("copy %s: %d columns, want %d", key, len(cp.Columns), len(cols)+2)
	}
}

// TestCreateTable is idempotent, refuses a table with another key, and waits for a table
// that is not ready yet.
func TestCreateTable(t *testing.T) {
	e, s := newStore(t)
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	if got := e.fake.Answered("OTSObjectAlreadyExist"); got != 1 {
		t.Errorf("OTSObjectAlreadyExist answered %d times, want 1", got)
	}
	if got := e.fake.Tables(); len(got) != 1 || got[0] != testTable {
		t.Errorf("tables = %v", got)
	}

	if err := e.fake.AddTable("other_key", otsfake.KeyColumn{Name: "id", Type: otsprotocol.PrimaryKeyType_INTEGER}); err != nil {
		t.Fatal(err)
	}
	other := e.open(t, func(o *Options) { o.Table = "other_key" })
	if err := other.CreateTable(t.Context()); err == nil || !strings.Contains(err.Error(), "[id INTEGER]") {
		t.Errorf("CreateTable over a table keyed by id: err = %v, want one naming its key", err)
	}

	fresh := e.open(t, func(o *Options) { o.Table = "fresh" })
	e.fake.Inject(otsfake.Fault{Action: "GetRow", Times: 6, Status: http.StatusServiceUnavailable, Code: "OTSTableNotReady", Message: "Table is not ready."})
	if err := fresh.CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable of a table not ready at first: %v", err)
	}
	if got := e.fake.Answered("OTSTableNotReady"); got != 6 {
		t.Errorf("OTSTableNotReady answered %d times, want 6 (all consumed)", got)
	}
}

// TestMissingTable: Load of a table that does not exist is an error with the fix, never an
// empty state.
func TestMissingTable(t *testing.T) {
	e := newEnv(t, otsfake.Options{})
	s := e.open(t, nil)
	_, err := s.Load(t.Context())
	if Code(err) != "OTSObjectNotExist" || !strings.Contains(err.Error(), "-init-state") {
		t.Errorf("err = %v, want OTSObjectNotExist with the -init-state hint", err)
	}
}

// TestLeaseExpiryTakeover drives the lease with an injected clock.
func TestLeaseExpiryTakeover(t *testing.T) {
	e, _ := newStore(t)
	var mu sync.Mutex
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	a := e.open(t, func(o *Options) { o.Now = clock })
	b := e.open(t, func(o *Options) { o.Now = clock })
	ctx := t.Context()

	la, err := a.Lock(ctx, "cycle-A", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	advance(30 * time.Second)
	_, err = b.Lock(ctx, "cycle-B", time.Minute)
	if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), `"cycle-A" until 2025-03-14T09:01:00Z`) {
		t.Fatalf("Lock before expiry: err = %v, want ErrLocked naming cycle-A and 09:01:00", err)
	}
	advance(31 * time.Second)
	lb, err := b.Lock(ctx, "cycle-B", time.Minute)
	if err != nil {
		t.Fatalf("Lock after expiry: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("Release of a lease taken over: %v", err)
	}
	if _, err := a.Lock(ctx, "cycle-C", time.Minute); !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), "cycle-B") {
		t.Fatalf("the late Release of cycle-A freed cycle-B's lease: err = %v", err)
	}
	// The same owner takes its own lease back (a retried invocation).
	lb2, err := a.Lock(ctx, "cycle-B", time.Minute)
	if err != nil {
		t.Fatalf("the holder re-taking its lease: %v", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(ctx, "cycle-D", time.Minute); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("the first take's Release freed the re-take: err = %v", err)
	}
	if err := lb2.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.Row(testTable, scopeKey(a, leaseSuffix)); ok {
		t.Error("lease row still there after its holder released it")
	}
	if _, err := a.Lock(ctx, "x", 0); err == nil {
		t.Error("Lock with a zero ttl succeeded")
	}
}

// TestLeaseRace: of many concurrent takers of an expired lease exactly one wins.
func TestLeaseRace(t *testing.T) {
	e, s := newStore(t)
	setLease := func() {
		if err := e.fake.SetRow(testTable, otsfake.Row{PrimaryKey: []otsfake.Cell{scopeKey(s, leaseSuffix)}, Columns: []otsfake.Cell{
			{Name: colOwner, Value: "dead-cycle"}, {Name: colExpires, Value: int64(1)}, {Name: colToken, Value: "old"},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		setLease()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			h := e.open(t, nil)
			wg.Go(func() {
				_, err := h.Lock(t.Context(), fmt.Sprintf("cycle-%d-%d", round, i), time.Minute)
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, state.ErrLocked):
					t.Errorf("Lock: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d takers won the expired lease, want 1", round, wins.Load())
		}
	}
}

// TestDamagedRows: rows damaged in ways the conformance suite cannot plant are reported
// as corrupt or newer, and never overwritten.
func TestDamagedRows(t *testing.T) {
	good := compress([]byte(`{"schema":1,"version":1,"snapshot":[]}`))
	cols := func(over map[string]any, drop ...string) []otsfake.Cell {
		base := map[string]any{colChunks: int64(1), colVersion: int64(1), colDocPrefix + "0": good, colDigest: digestOf(good), colSchema: int64(1)}
		for k, v := range over {
			base[k] = v
		}
		for _, d := range drop {
			delete(base, d)
		}
		var out []otsfake.Cell
		for k, v := range base {
			out = append(out, otsfake.Cell{Name: k, Value: v})
		}
		return out
	}
	badGzip := append([]byte{0x1f, 0x8b}, []byte("not really gzip")...)
	trailing := append(append([]byte{}, good...), "junk"...)
	tests := []struct {
		name   string
		cells  []otsfake.Cell
		schema bool // a *state.SchemaError, not a *state.CorruptError
	}{
		{"bad gzip", cols(map[string]any{colDocPrefix + "0": badGzip, colDigest: digestOf(badGzip)}), false},
		{"gzip with trailing junk", cols(map[string]any{colDocPrefix + "0": trailing, colDigest: digestOf(trailing)}), false},
		{"missing chunk", cols(map[string]any{colChunks: int64(2)}), false},
		{"digest mismatch", cols(map[string]any{colDigest: "sha256:00"}), false},
		{"no version", cols(nil, colVersion), false},
		{"version as string", cols(map[string]any{colVersion: "1"}), false},
		{"no chunks column", cols(nil, colChunks), false},
		{"chunk as string", cols(map[string]any{colDocPrefix + "0": "text"}), false},
		{"absurd chunk count", cols(map[string]any{colChunks: int64(1 << 40)}), false},
		{"no columns at all", nil, false},
		{"schema column from the future, unreadable document", cols(map[string]any{colSchema: int64(7), colDocPrefix + "0": []byte("zstd?"), colDigest: digestOf([]byte("zstd?"))}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, s := newStore(t)
			setRow(t, e, s, tc.cells...)
			before, _ := e.fake.Row(testTable, scopeKey(s, ""))
			_, err := s.Load(t.Context())
			var ce *state.CorruptError
			var se *state.SchemaError
			switch {
			case tc.schema && !errors.As(err, &se):
				t.Fatalf("Load: err = %v, want a *state.SchemaError", err)
			case !tc.schema && !errors.As(err, &ce):
				t.Fatalf("Load: err = %v, want a *state.CorruptError", err)
			}
			if !strings.Contains(err.Error(), "tablestore wahealth/"+testTable+"/default") {
				t.Errorf("error %q does not name the row", err)
			}
			for _, v := range []int64{0, 1, 2} {
				st := state.New()
				st.Version = v
				if err := s.Save(t.Context(), st); err == nil {
					t.Errorf("Save at version %d over the damaged row succeeded", v)
				}
			}
			after, _ := e.fake.Row(testTable, scopeKey(s, ""))
			if fmt.Sprint(after) != fmt.Sprint(before) {
				t.Error("a refused Save changed the damaged row")
			}
		})
	}

	t.Run("plain JSON pasted by hand loads", func(t *testing.T) {
		e, s := newStore(t)
		doc := []byte(`{"schema":1,"version":9,"baseline":true,"snapshot":[]}`)
		setRow(t, e, s, otsfake.Cell{Name: colChunks, Value: int64(1)}, otsfake.Cell{Name: colVersion, Value: int64(4)}, otsfake.Cell{Name: colDocPrefix + "0", Value: doc})
		st, err := s.Load(t.Context())
		if err != nil || !st.Baseline || st.Version != 4 {
			t.Fatalf("Load = %+v, %v; want the baseline at version 4 (the version column wins)", st, err)
		}
		if err := s.Save(t.Context(), st); err != nil || st.Version != 5 {
			t.Fatalf("Save over a row without digest: %v, version %d", err, st.Version)
		}
	})
}

// TestQuarantineKeepsCopy: the damaged row is copied with all its columns, and the original
// goes; the copy is never touched again.
func TestQuarantineKeepsCopy(t *testing.T) {
	e, s := newStore(t)
	putRaw(t, s, []byte("{garbage"))
	before, _ := e.fake.Row(testTable, scopeKey(s, ""))
	where, err := s.Quarantine(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	prefix := "tablestore wahealth/" + testTable + "/default" + corruptInfix
	if !strings.HasPrefix(where, prefix) {
		t.Fatalf("Quarantine = %q, want %s<time>", where, prefix)
	}
	key := strings.TrimPrefix(where, "tablestore wahealth/"+testTable+"/")
	cp, ok := e.fake.Row(testTable, otsfake.Cell{Name: pkName, Value: key})
	if !ok {
		t.Fatalf("no row %s", key)
	}
	for _, c := range before.Columns {
		if got, ok := cp.Column(c.Name); !ok || fmt.Sprint(got.Value) != fmt.Sprint(c.Value) {
			t.Errorf("copy lacks column %s as it was", c.Name)
		}
	}
	if _, ok := cp.Column(colQuarantinedAt); !ok {
		t.Error("copy has no quarantined_at")
	}
	if _, ok := e.fake.Row(testTable, scopeKey(s, "")); ok {
		t.Error("original row still there")
	}
	// A second quarantine of a new damaged row in the same instant gets another name.
	putRaw(t, s, []byte("{more garbage"))
	frozen := e.open(t, func(o *Options) {
		now := time.Now()
		o.Now = func() time.Time { return now }
	})
	w1, err1 := frozen.Quarantine(t.Context())
	putRaw(t, s, []byte("{even more"))
	w2, err2 := frozen.Quarantine(t.Context())
	if err1 != nil || err2 != nil || w1 == w2 || w1 == "" || w2 == "" {
		t.Errorf("two quarantines in one instant: %q %v, %q %v; want two names", w1, err1, w2, err2)
	}
	if n := len(e.fake.Rows(testTable)); n != 3 {
		t.Errorf("%d rows, want the 3 copies", n)
	}
}

// TestScopesShareATable: stores of different scopes in one table do not see each other.
func TestScopesShareATable(t *testing.T) {
	e, a := newStore(t)
	b := e.open(t, func(o *Options) { o.Scope = "shard-2" })
	st := state.New()
	st.Baseline = true
	if err := a.Save(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Load(t.Context()); err != nil || got.Version != 0 || got.Baseline {
		t.Errorf("scope shard-2 sees %+v, %v; want a fresh state", got, err)
	}
	if _, err := a.Lock(t.Context(), "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lock(t.Context(), "b", time.Minute); err != nil {
		t.Errorf("the lease of one scope blocks another: %v", err)
	}
}

// TestContextBoundsRetries: during an outage a call gives up when its context ends.
func TestContextBoundsRetries(t *testing.T) {
	e, s := newStore(t)
	e.fake.Break()
	defer e.fake.Restore()
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Load(ctx)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("Load during an outage: %v after %v", err, time.Since(start))
	}
	_, err = s.Load(t.Context())
	if Code(err) != "OTSServerUnavailable" {
		t.Errorf("after the retries: err = %v, want OTSServerUnavailable", err)
	}
	if got := e.fake.RequestsFor("GetRow"); got < maxAttempts+1 {
		t.Errorf("GetRow requests = %d, want the retries", got)
	}
}

// countingTransport counts the requests that go through it.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// TestHTTPClientTransport: Options.HTTPClient's transport carries the requests.
func TestHTTPClientTransport(t *testing.T) {
	e, _ := newStore(t)
	ct := &countingTransport{}
	s := e.open(t, func(o *Options) { o.HTTPClient = &http.Client{Transport: ct, Timeout: 5 * time.Second} })
	if _, err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ct.n.Load() != 1 {
		t.Errorf("requests through the given transport = %d, want 1", ct.n.Load())
	}
}

// TestOpenValidates: configuration mistakes are named with the key to fix.
func TestOpenValidates(t *testing.T) {
	base := Options{Endpoint: "https://inst.ap-southeast-1.ots.aliyuncs.com", Instance: "inst", Table: "state"}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no endpoint", func(o *Options) { o.Endpoint = "" }, "state.endpoint"},
		{"endpoint with a path", func(o *Options) { o.Endpoint = "https://x.example/path" }, "no path"},
		{"endpoint scheme", func(o *Options) { o.Endpoint = "ftp://x.example" }, "http(s)"},
		{"no instance", func(o *Options) { o.Instance = "" }, "state.instance"},
		{"bad instance", func(o *Options) { o.Instance = "1nst" }, "state.instance"},
		{"no table", func(o *Options) { o.Table = "" }, "state.table"},
		{"bad table", func(o *Options) { o.Table = "my-table" }, "state.table"},
		{"scope with #", func(o *Options) { o.Scope = "a#lease" }, "state.scope"},
	}
	for _, tc := range tests {
		o := base
		tc.edit(&o)
		if _, err := Open(t.Context(), o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	s, err := Open(t.Context(), Options{Endpoint: "inst.ap-southeast-1.ots.aliyuncs.com/", Instance: "inst", Table: "state"})
	if err != nil || s.endpoint != "https://inst.ap-southeast-1.ots.aliyuncs.com" || s.Where() != "tablestore inst/state/default" {
		t.Errorf("Open without scheme or scope: %v, endpoint %q, where %q", err, s.endpoint, s.Where())
	}
}
