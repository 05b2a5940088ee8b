// Package tablestore keeps wahealth's state in an Alibaba Cloud Tablestore (OTS) table, the
// backend for Function Compute where no file survives an invocation.
//
// One table (primary key "scope", STRING) holds, per state scope:
//
//   - the row <scope>: the state document (state.Encode output), gzip-compressed and split into
//     chunks of at most 1.5 MiB in columns doc_0, doc_1, ..., with chunks, version (the
//     compare-and-swap token), digest (sha256 of the joined chunks), schema and updated_at;
//   - the row <scope>#lease: the cycle lease (owner, expires in Unix ms, token);
//   - rows <scope>#corrupt-<UTC time>: documents moved aside by Quarantine, never deleted.
//
// Every Save is one conditional PutRow, which replaces the whole row (so chunks a smaller
// document no longer needs disappear with it): EXPECT_NOT_EXIST for version 0, otherwise
// EXPECT_EXIST plus "version == expected AND digest == what was read". A refused condition
// (OTSConditionCheckFail) is an error matching state.ErrConflict. A corrupt or newer-schema
// document is never overwritten: Save re-reads a row it has not decoded itself before it
// writes, and reports the row's *state.CorruptError or *state.SchemaError.
//
// Requests are signed per call with the Function Compute invocation's credentials
// (cams.WithCredentials) or Options.Credentials, and bound to the call's context.
package tablestore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	ots "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/state"
)

// DefaultScope is the scope of a store whose Options name none.
const DefaultScope = "default"

// tableReadyWait bounds how long CreateTable waits for a new table to serve reads.
const tableReadyWait = 60 * time.Second

// Options configure a Store. Endpoint, Instance and Table are required.
type Options struct {
	// Endpoint is the instance's endpoint, e.g.
	// https://<instance>.ap-southeast-1.ots.aliyuncs.com (https:// is assumed when no scheme
	// is given; use the -vpc endpoint inside a VPC).
	Endpoint string
	// Instance is the Tablestore instance name.
	Instance string
	// Table is the table holding the state rows.
	Table string
	// Scope is the state row's primary key value; default DefaultScope. Checkers sharing one
	// table keep separate state with one scope each. It may not contain '#'.
	Scope string
	// Credentials returns the credentials to sign a call with when its context carries none
	// (cams.WithCredentials); it is asked on every call, so it may rotate them.
	Credentials func(ctx context.Context) cams.Credentials
	// HTTPClient supplies the transport and the per-request timeout (its Timeout; default 30
	// s). The SDK builds its own http.Client, so only these two are used. Nil: a transport of
	// the store's own, closed by Close.
	HTTPClient *http.Client
	// Now is the clock for lease expiry, updated_at and quarantine names; default time.Now.
	Now func() time.Time
}

// Store is a state.Store on one Tablestore row. It is safe for concurrent use; several
// Stores (in several processes) on the same scope coordinate through the table.
type Store struct {
	opts      Options
	endpoint  string
	where     string // "tablestore <instance>/<table>/<scope>"
	transport http.RoundTripper
	own       *http.Transport // closed by Close; nil when the transport is the caller's
	timeout   time.Duration
	maxDoc    int // maxDocBytes; smaller in tests
	now       func() time.Time
	closed    atomic.Bool

	// known is the version and digest of the last document this handle decoded or wrote
	// whole, so that a Save right after a Load needs no second read.
	mu    sync.Mutex
	known struct {
		version int64
		digest  string
		ok      bool
	}
}

var _ state.Store = (*Store)(nil)

// Open validates o and returns a Store. It makes no network call: a wrong endpoint, key or
// table shows at the first Load (or use CreateTable, which checks the table).
func Open(ctx context.Context, o Options) (*Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open tablestore state: %w", err)
	}
	o.Scope = cmp.Or(o.Scope, DefaultScope)
	endpoint, err := normalizeEndpoint(o.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("open tablestore state: %w", err)
	}
	if err := checkInstance(o.Instance); err != nil {
		return nil, fmt.Errorf("open tablestore state: %w", err)
	}
	if err := checkTable(o.Table); err != nil {
		return nil, fmt.Errorf("open tablestore state: %w", err)
	}
	if err := checkScope(o.Scope); err != nil {
		return nil, fmt.Errorf("open tablestore state: %w", err)
	}
	s := &Store{
		opts:     o,
		endpoint: endpoint,
		where:    fmt.Sprintf("tablestore %s/%s/%s", o.Instance, o.Table, o.Scope),
		timeout:  defaultRequestTimeout,
		maxDoc:   maxDocBytes,
		now:      o.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.HTTPClient != nil {
		s.transport = o.HTTPClient.Transport
		if o.HTTPClient.Timeout > 0 {
			s.timeout = o.HTTPClient.Timeout
		}
	}
	if s.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 8
		s.transport, s.own = t, t
	}
	return s, nil
}

func normalizeEndpoint(e string) (string, error) {
	if e == "" {
		return "", errors.New("no endpoint (set state.endpoint, e.g. https://<instance>.ap-southeast-1.ots.aliyuncs.com)")
	}
	if !strings.Contains(e, "://") {
		e = "https://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", e, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("endpoint %q: want http(s)://host[:port] with no path, query or user", e)
	}
	return u.Scheme + "://" + u.Host, nil
}

// checkInstance applies Tablestore's instance naming rule: 3 to 16 letters, digits and
// hyphens, starting with a letter, not ending with a hyphen.
func checkInstance(n string) error {
	ok := len(n) >= 3 && len(n) <= 16 && isLetter(n[0]) && n[len(n)-1] != '-'
	for i := 0; ok && i < len(n); i++ {
		ok = isLetter(n[i]) || isDigit(n[i]) || n[i] == '-'
	}
	if !ok {
		return fmt.Errorf("instance %q: want 3 to 16 letters, digits and hyphens starting with a letter (set state.instance)", n)
	}
	return nil
}

// checkTable applies Tablestore's table naming rule: 1 to 255 letters, digits and
// underscores, starting with a letter or underscore.
func checkTable(n string) error {
	ok := len(n) >= 1 && len(n) <= 255 && (isLetter(n[0]) || n[0] == '_')
	for i := 0; ok && i < len(n); i++ {
		ok = isLetter(n[i]) || isDigit(n[i]) || n[i] == '_'
	}
	if !ok {
		return fmt.Errorf("table %q: want 1 to 255 letters, digits and underscores, not starting with a digit (set state.table)", n)
	}
	return nil
}

// checkScope keeps the scope a printable key that cannot collide with the lease and
// quarantine rows, well inside the 1 KB primary key limit.
func checkScope(n string) error {
	if len(n) > 512 || !utf8.ValidString(n) || strings.Contains(n, "#") || strings.ContainsFunc(n, unicode.IsControl) {
		return fmt.Errorf("scope %q: want at most 512 bytes of printable UTF-8 without '#' (set state.scope)", n)
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// Where names the state row in messages: "tablestore <instance>/<table>/<scope>".
func (s *Store) Where() string { return s.where }

// Load returns the stored document, or state.New() when the row does not exist. A row that
// cannot be decoded (bad gzip or JSON, a missing chunk, a digest mismatch) is a
// *state.CorruptError and one written by a newer schema a *state.SchemaError, both naming
// the row. A missing table or an unreachable service is an error, never an empty state.
func (s *Store) Load(ctx context.Context) (*state.State, error) {
	if err := s.usable(ctx, "load"); err != nil {
		return nil, err
	}
	cols, err := s.getRow(ctx, s.opts.Scope)
	if err != nil {
		return nil, fmt.Errorf("load state %s: %w", s.where, err)
	}
	if cols == nil {
		return state.New(), nil
	}
	st, row, err := parseDoc(s.where, cols)
	if err != nil {
		return nil, err
	}
	s.remember(row.version, row.digest)
	return st, nil
}

// Save stores st if the row still holds version st.Version (0: no row yet), then sets
// st.Version, st.Schema and st.UpdatedAt. A lost race is an error matching state.ErrConflict;
// a corrupt or newer-schema row is never overwritten (its *state.CorruptError or
// *state.SchemaError is returned). On any error st is unchanged. A document larger than one
// row write accepts is an error matching ErrTooLarge.
func (s *Store) Save(ctx context.Context, st *state.State) error {
	if st == nil {
		return fmt.Errorf("save state %s: nil state", s.where)
	}
	if err := s.usable(ctx, "save"); err != nil {
		return err
	}
	next := *st
	next.Version = st.Version + 1
	next.Schema = state.SchemaVersion
	next.UpdatedAt = s.now().UTC()
	raw, err := state.Encode(&next)
	if err != nil {
		return fmt.Errorf("save state %s: %w", s.where, err)
	}
	packed := compress(raw)
	if len(packed) > s.maxDoc {
		return fmt.Errorf("save state %s: %d bytes of JSON compress to %d bytes, over the %d a row write takes: %w",
			s.where, len(raw), len(packed), s.maxDoc, ErrTooLarge)
	}
	written := stored{version: next.Version, digest: digestOf(packed)}
	cols := docColumns(packed, next.Version, next.Schema, next.UpdatedAt)

	exist := ots.RowExistenceExpectation_EXPECT_NOT_EXIST
	var cond ots.ColumnFilter
	if st.Version != 0 {
		digest, ok := s.knownDigest(st.Version)
		if !ok {
			// A version this handle has not read: check what the row holds before writing
			// over it, so that a damaged or newer document is reported, not replaced.
			cur, err := s.current(ctx)
			if err != nil {
				return err
			}
			if cur == nil || cur.version != st.Version {
				return s.conflict(st.Version, cur)
			}
			digest = cur.digest
		}
		exist = ots.RowExistenceExpectation_EXPECT_EXIST
		cond = matchRow(st.Version, digest)
	}
	err = s.putRow(ctx, s.opts.Scope, cols, exist, cond)
	if conditionFailed(err) {
		// Someone else wrote, the row is damaged, or an earlier attempt of this very write
		// (its answer lost to a transient error) already landed.
		cur, rerr := s.current(ctx)
		switch {
		case rerr != nil && isDocError(rerr):
			return rerr
		case rerr != nil:
			return fmt.Errorf("save state %s: expected version %d: %w (re-reading the row failed: %v)", s.where, st.Version, state.ErrConflict, rerr)
		case cur == nil || cur.version != written.version || cur.digest != written.digest:
			return s.conflict(st.Version, cur)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("save state %s: %w", s.where, err)
	}
	s.remember(written.version, written.digest)
	st.Version, st.Schema, st.UpdatedAt = next.Version, next.Schema, next.UpdatedAt
	return nil
}

// matchRow is the condition "the row is still the one read": version == v and, when the
// row had one, digest == d. Columns that are missing fail the condition.
func matchRow(v int64, d string) ots.ColumnFilter {
	f := []ots.ColumnFilter{equal(colVersion, v)}
	if d != "" {
		f = append(f, equal(colDigest, d))
	}
	return all(f...)
}

// equal is the condition column == v; a row without the column fails it.
func equal(col string, v any) *ots.SingleColumnCondition {
	c := ots.NewSingleColumnCondition(col, ots.CT_EQUAL, v)
	c.FilterIfMissing = true
	c.LatestVersionOnly = true
	return c
}

// all combines conditions with AND (Tablestore wants two or more sub-conditions for AND).
func all(f ...ots.ColumnFilter) ots.ColumnFilter {
	if len(f) == 1 {
		return f[0]
	}
	c := ots.NewCompositeColumnCondition(ots.LO_AND)
	for _, x := range f {
		c.AddFilter(x)
	}
	return c
}

func isDocError(err error) bool {
	var ce *state.CorruptError
	var se *state.SchemaError
	return errors.As(err, &ce) || errors.As(err, &se)
}

// conflict is the error of a Save that expected version want and found cur.
func (s *Store) conflict(want int64, cur *stored) error {
	found := "no document"
	if cur != nil {
		found = fmt.Sprintf("version %d", cur.version)
	}
	return fmt.Errorf("save state %s: expected version %d, found %s: %w", s.where, want, found, state.ErrConflict)
}

// current reads and decodes the state row: nil when there is none; the row's
// *state.CorruptError or *state.SchemaError when it cannot be read.
func (s *Store) current(ctx context.Context) (*stored, error) {
	cols, err := s.getRow(ctx, s.opts.Scope)
	if err != nil {
		return nil, fmt.Errorf("save state %s: read the stored version: %w", s.where, err)
	}
	if cols == nil {
		return nil, nil
	}
	_, row, err := parseDoc(s.where, cols)
	if err != nil {
		return nil, err
	}
	s.remember(row.version, row.digest)
	return &row, nil
}

func (s *Store) remember(version int64, digest string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known.version, s.known.digest, s.known.ok = version, digest, true
}

func (s *Store) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.known.ok = false
}

func (s *Store) knownDigest(version int64) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known.ok || s.known.version != version {
		return "", false
	}
	return s.known.digest, true
}

// Quarantine copies the state row, as it is, to <scope>#corrupt-<UTC time> (kept, never
// deleted) and then deletes the original if it is still the row that was copied. It returns
// the copy's name ("tablestore <instance>/<table>/<scope>#corrupt-..."), or "" when there was
// no row. If the original changed between copy and delete it is left alone: it is no longer
// the document that was moved aside.
func (s *Store) Quarantine(ctx context.Context) (string, error) {
	if err := s.usable(ctx, "quarantine"); err != nil {
		return "", err
	}
	cols, err := s.getRow(ctx, s.opts.Scope)
	if err != nil {
		return "", fmt.Errorf("quarantine state %s: %w", s.where, err)
	}
	if cols == nil {
		return "", nil
	}
	now := s.now().UTC()
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	slices.Sort(names)
	copied := make([]ots.AttributeColumn, 0, len(cols)+2)
	for _, n := range names {
		copied = append(copied, ots.AttributeColumn{ColumnName: n, Value: cols[n]})
	}
	copied = append(copied,
		ots.AttributeColumn{ColumnName: colQuarantinedAt, Value: now.Format(time.RFC3339Nano)},
		ots.AttributeColumn{ColumnName: colQuarantinedFrom, Value: s.opts.Scope})

	key := s.opts.Scope + corruptInfix + now.Format("20060102T150405.000000000Z")
	for attempt := 0; ; attempt++ {
		err = s.putRow(ctx, key, copied, ots.RowExistenceExpectation_EXPECT_NOT_EXIST, nil)
		if !conditionFailed(err) || attempt == 2 {
			break
		}
		key = s.opts.Scope + corruptInfix + now.Format("20060102T150405.000000000Z") + "-" + randomHex(3)
	}
	if err != nil {
		return "", fmt.Errorf("quarantine state %s: copy the row aside: %w", s.where, err)
	}
	aside := fmt.Sprintf("tablestore %s/%s/%s", s.opts.Instance, s.opts.Table, key)

	var ident []ots.ColumnFilter
	for _, n := range []string{colVersion, colDigest} {
		if v, ok := cols[n]; ok {
			ident = append(ident, equal(n, v))
		}
	}
	if v, ok := cols[colDocPrefix+"0"]; ok && len(ident) == 0 {
		ident = append(ident, equal(colDocPrefix+"0", v))
	}
	var cond ots.ColumnFilter
	if len(ident) > 0 {
		cond = all(ident...)
	}
	err = s.deleteRow(ctx, s.opts.Scope, ots.RowExistenceExpectation_EXPECT_EXIST, cond)
	s.forget()
	if err != nil && !conditionFailed(err) {
		return aside, fmt.Errorf("quarantine state %s: copied to %s but could not delete the original: %w", s.where, aside, err)
	}
	return aside, nil
}

// CreateTable creates the state table (primary key "scope", STRING; one version per column;
// no TTL) if it does not exist (OTSObjectAlreadyExist is fine), checks that an existing table
// has that primary key, and waits (up to a minute, or ctx) until the table serves reads.
// It needs ots:CreateTable, ots:DescribeTable and ots:GetRow.
func (s *Store) CreateTable(ctx context.Context) error {
	if err := s.usable(ctx, "create table"); err != nil {
		return err
	}
	name := fmt.Sprintf("%s/%s", s.opts.Instance, s.opts.Table)
	meta := &ots.TableMeta{TableName: s.opts.Table}
	meta.AddPrimaryKeyColumn(pkName, ots.PrimaryKeyType_STRING)
	req := &ots.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &ots.TableOption{TimeToAlive: -1, MaxVersion: 1},
		ReservedThroughput: &ots.ReservedThroughput{Readcap: 0, Writecap: 0},
	}
	err := s.call(ctx, func(c *ots.TableStoreClient) error {
		_, err := c.CreateTable(req)
		return err
	})
	if err != nil && Code(err) != codeObjectAlreadyExist {
		return fmt.Errorf("create state table %s: %w", name, err)
	}

	var desc *ots.DescribeTableResponse
	err = s.call(ctx, func(c *ots.TableStoreClient) error {
		var err error
		desc, err = c.DescribeTable(&ots.DescribeTableRequest{TableName: s.opts.Table})
		return err
	})
	if err != nil {
		return fmt.Errorf("create state table %s: describe it: %w", name, err)
	}
	if desc.TableMeta == nil || !isStateKey(desc.TableMeta.SchemaEntry) {
		return fmt.Errorf("create state table %s: the table exists with primary key %s; wahealth needs a table whose only primary key column is %q (STRING): choose another state.table",
			name, describeKey(desc.TableMeta), pkName)
	}

	// A new table takes a moment before it serves reads and writes.
	deadline := time.Now().Add(tableReadyWait)
	for {
		_, err := s.getRow(ctx, s.opts.Scope)
		if err == nil {
			return nil
		}
		if !retryable(err) || time.Now().After(deadline) {
			return fmt.Errorf("create state table %s: the table does not serve reads yet: %w", name, err)
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("create state table %s: wait until it serves reads: %w (last error: %v)", name, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func isStateKey(pk []*ots.PrimaryKeySchema) bool {
	return len(pk) == 1 && pk[0].Name != nil && *pk[0].Name == pkName && pk[0].Type != nil && *pk[0].Type == ots.PrimaryKeyType_STRING
}

func describeKey(m *ots.TableMeta) string {
	if m == nil {
		return "(unknown)"
	}
	var parts []string
	for _, k := range m.SchemaEntry {
		n, t := "?", "?"
		if k.Name != nil {
			n = *k.Name
		}
		if k.Type != nil {
			switch *k.Type {
			case ots.PrimaryKeyType_STRING:
				t = "STRING"
			case ots.PrimaryKeyType_INTEGER:
				t = "INTEGER"
			case ots.PrimaryKeyType_BINARY:
				t = "BINARY"
			}
		}
		parts = append(parts, n+" "+t)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Close marks the store closed (later calls fail) and closes the idle connections of its own
// transport. Leases taken from it stay held until released or expired.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.own != nil {
		s.own.CloseIdleConnections()
	}
	return nil
}

// usable reports a closed store or a finished context.
func (s *Store) usable(ctx context.Context, op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s state %s: store is closed", op, s.where)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s state %s: %w", op, s.where, err)
	}
	return nil
}

// ---- row primitives ----

func primaryKey(key string) *ots.PrimaryKey {
	pk := &ots.PrimaryKey{}
	pk.AddPrimaryKeyColumn(pkName, key)
	return pk
}

// getRow reads every column of the row key: nil when it does not exist.
func (s *Store) getRow(ctx context.Context, key string) (map[string]any, error) {
	var resp *ots.GetRowResponse
	err := s.call(ctx, func(c *ots.TableStoreClient) error {
		var err error
		resp, err = c.GetRow(&ots.GetRowRequest{SingleRowQueryCriteria: &ots.SingleRowQueryCriteria{
			TableName:  s.opts.Table,
			PrimaryKey: primaryKey(key),
			MaxVersion: 1,
		}})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.PrimaryKey.PrimaryKeys) == 0 && len(resp.Columns) == 0 {
		return nil, nil
	}
	cols := make(map[string]any, len(resp.Columns))
	for _, c := range resp.Columns {
		if _, dup := cols[c.ColumnName]; !dup {
			cols[c.ColumnName] = c.Value
		}
	}
	return cols, nil
}

// putRow replaces the row key with cols if the condition holds. Always sets a condition:
// the SDK dereferences it.
func (s *Store) putRow(ctx context.Context, key string, cols []ots.AttributeColumn, exist ots.RowExistenceExpectation, cond ots.ColumnFilter) error {
	return s.call(ctx, func(c *ots.TableStoreClient) error {
		ch := &ots.PutRowChange{TableName: s.opts.Table, PrimaryKey: primaryKey(key), Columns: cols}
		ch.SetCondition(exist)
		if cond != nil {
			ch.SetColumnCondition(cond)
		}
		_, err := c.PutRow(&ots.PutRowRequest{PutRowChange: ch})
		return err
	})
}

// deleteRow deletes the row key if the condition holds.
func (s *Store) deleteRow(ctx context.Context, key string, exist ots.RowExistenceExpectation, cond ots.ColumnFilter) error {
	return s.call(ctx, func(c *ots.TableStoreClient) error {
		ch := &ots.DeleteRowChange{TableName: s.opts.Table, PrimaryKey: primaryKey(key)}
		ch.SetCondition(exist)
		if cond != nil {
			ch.SetColumnCondition(cond)
		}
		_, err := c.DeleteRow(&ots.DeleteRowRequest{DeleteRowChange: ch})
		return err
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
