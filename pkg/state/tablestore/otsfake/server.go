// Package otsfake is an in-process Tablestore (OTS) server for tests. It speaks the wire
// protocol the official Go SDK (github.com/aliyun/aliyun-tablestore-go-sdk) speaks: HTTP POST
// of the SDK's otsprotocol protobuf messages, with rows inside encoded as PlainBuffer. It
// checks every request's signature (HMAC-SHA1 over the canonical x-ots-* headers), its
// access key, STS token, instance name, body MD5 and date, and answers errors the way
// Tablestore does: a protobuf Error message with an OTS* code and the matching HTTP status.
//
// Implemented operations: CreateTable, DescribeTable, ListTable, DeleteTable, GetRow, PutRow,
// UpdateRow and DeleteRow, with row-existence expectations and single-column and composite
// column conditions. Tables keep one version of each column (max_versions 1). Break, Restore
// and Inject simulate outages and failures; Requests counts what was asked.
package otsfake

import (
	"cmp"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// Limits Tablestore documents for the wide-column model
// (https://www.alibabacloud.com/help/en/tablestore/limits-on-widecolumn-model) and its error
// codes (https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes).
const (
	// MaxColumnValue is the largest String or Binary attribute column value: 2 MB.
	MaxColumnValue = 2 << 20
	// MaxRowWrite is the most data one PutRow or UpdateRow may write: 4 MB.
	MaxRowWrite = 4 << 20
	// MaxBody is the largest request body: 5 MB (413 OTSRequestBodyTooLarge beyond).
	MaxBody = 5 << 20
	// MaxKeyValue is the largest String or Binary primary-key column value: 1 KB.
	MaxKeyValue = 1 << 10
	// MaxColumnsPerWrite is the most attribute columns one row write may carry.
	MaxColumnsPerWrite = 1024
	// MaxColumnsToGet is the most columns a read may name in columns_to_get.
	MaxColumnsToGet = 128
	// MaxTables is the most tables an instance holds.
	MaxTables = 64
	// APIVersion is the x-ots-apiversion the SDK sends and the fake requires.
	APIVersion = "2015-12-31"
)

// Credential is an access key the fake accepts. With a SecurityToken (STS credentials) the
// request must carry it in x-ots-ststoken; without one it must carry none.
type Credential struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Options configure a Server.
type Options struct {
	// Instance is the instance name requests must address (x-ots-instancename); default
	// "wahealth".
	Instance string
	// Credentials are the access keys accepted; default one key "fake-id"/"fake-secret".
	Credentials []Credential
	// Now is the server clock, for the x-ots-date check and cell timestamps; default
	// time.Now.
	Now func() time.Time
	// MaxClockSkew is how far x-ots-date may be from Now; default 15 minutes.
	MaxClockSkew time.Duration
}

// Cell is a column of a stored row: a name, a value (int64, float64, bool, string or
// []byte) and a timestamp in milliseconds (0 when writing means "now").
type Cell struct {
	Name      string
	Value     any
	Timestamp int64
}

// Row is a stored row: its primary key columns in schema order and its attribute columns
// sorted by name.
type Row struct {
	PrimaryKey []Cell
	Columns    []Cell
}

// Column returns the attribute column called name.
func (r Row) Column(name string) (Cell, bool) {
	for _, c := range r.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Cell{}, false
}

// KeyColumn is one primary key column of a table schema.
type KeyColumn struct {
	Name string
	Type otsprotocol.PrimaryKeyType
}

// Fault makes matching requests fail: Times requests (default 1) whose action (the path
// without its slash, e.g. "PutRow"; "" matches any) matches answer Status with Code and
// Message (default 503 OTSServerUnavailable). With AfterApply the operation is carried out
// first, so the client sees an error for a write that happened.
type Fault struct {
	Action     string
	Times      int
	Status     int
	Code       string
	Message    string
	AfterApply bool
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	ts       *httptest.Server
	instance string
	now      func() time.Time
	skew     time.Duration
	reqPfx   string

	broken   atomic.Bool
	requests atomic.Int64
	reqSeq   atomic.Int64

	mu       sync.Mutex
	creds    map[string]Credential
	perOp    map[string]int64
	perCode  map[string]int64
	faults   []*Fault
	tables   map[string]*table
	authErrs []string
}

type table struct {
	name        string
	pk          []KeyColumn
	ttl         int32
	maxVersions int32
	deviation   int64
	created     time.Time
	rows        map[string]*storedRow
}

type storedRow struct {
	pk   []Cell
	cols map[string]Cell
}

// New starts a fake on a 127.0.0.1 port. Close it when done.
func New(o Options) *Server {
	s := &Server{
		instance: cmp.Or(o.Instance, "wahealth"),
		now:      o.Now,
		skew:     cmp.Or(o.MaxClockSkew, 15*time.Minute),
		perOp:    map[string]int64{},
		perCode:  map[string]int64{},
		tables:   map[string]*table{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.reqPfx = hex.EncodeToString(b[:])
	if len(o.Credentials) == 0 {
		o.Credentials = []Credential{{AccessKeyID: "fake-id", AccessKeySecret: "fake-secret"}}
	}
	s.SetCredentials(o.Credentials...)
	s.ts = httptest.NewServer(s)
	return s
}

// URL returns the endpoint to give the SDK, e.g. http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.ts.URL }

// Instance returns the instance name requests must carry.
func (s *Server) Instance() string { return s.instance }

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// SetCredentials replaces the accepted access keys (as a key rotation does).
func (s *Server) SetCredentials(creds ...Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds = map[string]Credential{}
	for _, c := range creds {
		s.creds[c.AccessKeyID] = c
	}
}

// Break makes every request answer 503 OTSServerUnavailable until Restore.
func (s *Server) Break() { s.broken.Store(true) }

// Restore ends a Break.
func (s *Server) Restore() { s.broken.Store(false) }

// Requests returns how many requests arrived, whatever their outcome.
func (s *Server) Requests() int64 { return s.requests.Load() }

// RequestsFor returns how many requests arrived for action (e.g. "GetRow").
func (s *Server) RequestsFor(action string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perOp[action]
}

// Answered returns how many requests were answered with the error code (e.g.
// "OTSConditionCheckFail").
func (s *Server) Answered(code string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perCode[code]
}

// AuthFailures returns the messages of the requests refused for authentication, oldest
// first, so that a test can tell which check refused them.
func (s *Server) AuthFailures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.authErrs)
}

// Inject queues a fault; faults are consumed in the order they were injected.
func (s *Server) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	if f.Status == 0 {
		f.Status, f.Code, f.Message = http.StatusServiceUnavailable, "OTSServerUnavailable", "Server is not available."
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// AddTable creates a table directly (not through the wire), as an existing table.
func (s *Server) AddTable(name string, pk ...KeyColumn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[name]; ok {
		return fmt.Errorf("table %q exists", name)
	}
	s.tables[name] = &table{name: name, pk: pk, ttl: -1, maxVersions: 1, deviation: 86400, created: s.now(), rows: map[string]*storedRow{}}
	return nil
}

// Tables returns the table names, sorted.
func (s *Server) Tables() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.tables))
	for n := range s.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Row returns a stored row by its primary key values.
func (s *Server) Row(tableName string, pk ...Cell) (Row, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return Row{}, false
	}
	r, ok := t.rows[rowKey(pk)]
	if !ok {
		return Row{}, false
	}
	return r.export(), true
}

// Rows returns every row of a table, ordered by primary key.
func (s *Server) Rows(tableName string) []Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(t.rows))
	for k := range t.rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([]Row, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, t.rows[k].export())
	}
	return rows
}

// SetRow stores r directly (replacing any row with its key), bypassing conditions and
// limits except the primary key schema and value types.
func (s *Server) SetRow(tableName string, r Row) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return fmt.Errorf("no table %q", tableName)
	}
	if e := t.checkPK(r.PrimaryKey); e != nil {
		return fmt.Errorf("primary key: %s", e.message)
	}
	sr := &storedRow{pk: slices.Clone(r.PrimaryKey), cols: map[string]Cell{}}
	ms := s.now().UnixMilli()
	for _, c := range r.Columns {
		if err := checkValue(c.Value); err != nil {
			return fmt.Errorf("column %q: %w", c.Name, err)
		}
		if c.Timestamp == 0 {
			c.Timestamp = ms
		}
		sr.cols[c.Name] = c
	}
	t.rows[rowKey(r.PrimaryKey)] = sr
	return nil
}

// RemoveRow deletes a row directly; it reports whether there was one.
func (s *Server) RemoveRow(tableName string, pk ...Cell) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return false
	}
	k := rowKey(pk)
	_, had := t.rows[k]
	delete(t.rows, k)
	return had
}

func (r *storedRow) export() Row {
	out := Row{PrimaryKey: slices.Clone(r.pk)}
	for _, c := range r.cols {
		if b, ok := c.Value.([]byte); ok {
			c.Value = slices.Clone(b)
		}
		out.Columns = append(out.Columns, c)
	}
	slices.SortFunc(out.Columns, func(a, b Cell) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func checkValue(v any) error {
	switch v.(type) {
	case int64, float64, bool, string, []byte:
		return nil
	}
	return fmt.Errorf("value of type %T: want int64, float64, bool, string or []byte", v)
}

// rowKey identifies a row by its primary key values.
func rowKey(pk []Cell) string {
	var b strings.Builder
	for _, c := range pk {
		b.WriteString(c.Name)
		b.WriteByte(0)
		b.Write(encodeVariant(c.Value))
		b.WriteByte(0)
	}
	return b.String()
}

// apiError is an error answer: HTTP status, OTS code and message.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "OTSParameterInvalid", format, args...)
}

func authFailed(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, "OTSAuthFailed", format, args...)
}

var (
	errConditionFailed = errorf(http.StatusForbidden, "OTSConditionCheckFail", "Condition check failed.")
	errNoTable         = errorf(http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
	errTableExists     = errorf(http.StatusConflict, "OTSObjectAlreadyExist", "Requested table already exists.")
	errUnavailable     = errorf(http.StatusServiceUnavailable, "OTSServerUnavailable", "Server is not available.")
)

// operation handles one action's request body under s.mu.
type operation func(s *Server, body []byte) (proto.Message, *apiError)

var operations = map[string]operation{
	"CreateTable":   (*Server).createTable,
	"DescribeTable": (*Server).describeTable,
	"ListTable":     (*Server).listTable,
	"DeleteTable":   (*Server).deleteTable,
	"GetRow":        (*Server).getRow,
	"PutRow":        (*Server).putRow,
	"UpdateRow":     (*Server).updateRow,
	"DeleteRow":     (*Server).deleteRow,
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	action := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	s.perOp[action]++
	s.mu.Unlock()

	if s.broken.Load() {
		s.replyError(w, errUnavailable)
		return
	}
	if r.Method != http.MethodPost {
		s.replyError(w, errorf(http.StatusMethodNotAllowed, "OTSMethodNotAllowed", "Only POST method for requests is supported."))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		s.replyError(w, errorf(http.StatusBadRequest, "OTSParameterInvalid", "Cannot read the request body."))
		return
	}
	if len(body) > MaxBody {
		s.replyError(w, errorf(http.StatusRequestEntityTooLarge, "OTSRequestBodyTooLarge", "The size of POST data is too large."))
		return
	}
	if aerr := s.authenticate(r, body); aerr != nil {
		if aerr.code == "OTSAuthFailed" {
			s.mu.Lock()
			s.authErrs = append(s.authErrs, aerr.message)
			s.mu.Unlock()
		}
		s.replyError(w, aerr)
		return
	}
	op, ok := operations[action]
	if !ok {
		s.replyError(w, invalid("Unsupported operation: '%s'.", action))
		return
	}

	s.mu.Lock()
	fault := s.takeFault(action)
	if fault != nil && !fault.AfterApply {
		s.mu.Unlock()
		s.replyError(w, &apiError{status: fault.Status, code: fault.Code, message: fault.Message})
		return
	}
	resp, aerr := op(s, body)
	s.mu.Unlock()
	switch {
	case fault != nil:
		s.replyError(w, &apiError{status: fault.Status, code: fault.Code, message: fault.Message})
	case aerr != nil:
		s.replyError(w, aerr)
	default:
		s.reply(w, http.StatusOK, resp)
	}
}

// takeFault consumes the first fault matching action, under s.mu.
func (s *Server) takeFault(action string) *Fault {
	for i, f := range s.faults {
		if f.Action != "" && f.Action != action {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = slices.Delete(s.faults, i, i+1)
		}
		return f
	}
	return nil
}

// authenticate checks the request headers as Tablestore does.
func (s *Server) authenticate(r *http.Request, body []byte) *apiError {
	for _, h := range []string{"x-ots-date", "x-ots-apiversion", "x-ots-accesskeyid", "x-ots-contentmd5", "x-ots-instancename", "x-ots-signature"} {
		if r.Header.Get(h) == "" {
			return invalid("Missing header: '%s'.", h)
		}
	}
	if v := r.Header.Get("x-ots-apiversion"); v != APIVersion {
		return invalid("Unsupported API version: '%s'.", v)
	}
	date, err := parseOTSDate(r.Header.Get("x-ots-date"))
	if err != nil {
		return invalid("Invalid date format: %s.", r.Header.Get("x-ots-date"))
	}
	if d := s.now().Sub(date); d > s.skew || d < -s.skew {
		return authFailed("Mismatch between system time and x-ots-date: %s.", r.Header.Get("x-ots-date"))
	}
	if r.Header.Get("x-ots-instancename") != s.instance {
		return authFailed("The instance is not found.")
	}
	s.mu.Lock()
	cred, ok := s.creds[r.Header.Get("x-ots-accesskeyid")]
	s.mu.Unlock()
	if !ok {
		return authFailed("The AccessKeyID does not exist.")
	}
	sum := md5.Sum(body)
	if r.Header.Get("x-ots-contentmd5") != base64.StdEncoding.EncodeToString(sum[:]) {
		return authFailed("Mismatch between MD5 value of request body and x-ots-contentmd5 in header.")
	}
	token := r.Header.Get("x-ots-ststoken")
	switch {
	case cred.SecurityToken == "" && token != "":
		return authFailed("A security token was sent for an AccessKey that is not temporary.")
	case cred.SecurityToken != "" && token == "":
		return authFailed("The security token is missing.")
	case !hmac.Equal([]byte(token), []byte(cred.SecurityToken)):
		return authFailed("The security token is invalid.")
	}
	want := Sign(cred.AccessKeySecret, r.URL.Path, r.Header)
	if !hmac.Equal([]byte(r.Header.Get("x-ots-signature")), []byte(want)) {
		return authFailed("Signature mismatch.")
	}
	return nil
}

// Sign computes a request signature: base64(HMAC-SHA1(secret, StringToSign)) where
// StringToSign is the path, "POST", an empty canonical query string and then every x-ots-*
// header but x-ots-signature as "name:value", sorted by name, each line ending in "\n".
func Sign(secret, path string, h http.Header) string {
	var names []string
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-ots-") && lk != "x-ots-signature" {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(path + "\nPOST\n\n")
	for _, n := range names {
		b.WriteString(n + ":" + strings.TrimSpace(h.Get(n)) + "\n")
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// parseOTSDate reads x-ots-date. The Go SDK formats it with the layout
// "2006-01-02T15:04:05.123Z", whose ".123" Go reads as month, day and hour digits, so only
// the first 19 characters are a reliable UTC time; RFC 3339 is accepted too.
func parseOTSDate(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if len(v) < 19 {
		return time.Time{}, fmt.Errorf("short date %q", v)
	}
	return time.ParseInLocation("2006-01-02T15:04:05", v[:19], time.UTC)
}

func (s *Server) reply(w http.ResponseWriter, status int, m proto.Message) {
	var body []byte
	if m != nil {
		b, err := proto.Marshal(m)
		if err != nil {
			s.replyError(w, errorf(http.StatusInternalServerError, "OTSInternalServerError", "otsfake cannot encode its answer: %v", err))
			return
		}
		body = b
	}
	sum := md5.Sum(body)
	h := w.Header()
	h.Set("x-ots-requestid", fmt.Sprintf("%s-%08x", s.reqPfx, s.reqSeq.Add(1)))
	h.Set("x-ots-date", s.now().UTC().Format(http.TimeFormat))
	h.Set("x-ots-contentmd5", base64.StdEncoding.EncodeToString(sum[:]))
	h.Set("x-ots-contenttype", "protocol buffer")
	h.Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) replyError(w http.ResponseWriter, e *apiError) {
	s.mu.Lock()
	s.perCode[e.code]++
	s.mu.Unlock()
	s.reply(w, e.status, &otsprotocol.Error{Code: proto.String(e.code), Message: proto.String(e.message)})
}

// checkName applies Tablestore's naming rule for tables and columns: 1 to 255 bytes of
// letters, digits and underscores, not starting with a digit.
func checkName(kind, n string) error {
	if n == "" || len(n) > 255 {
		return fmt.Errorf("invalid %s name: '%s'", kind, n)
	}
	for i, c := range n {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return fmt.Errorf("invalid %s name: '%s'", kind, n)
	}
	return nil
}

func checkColumnName(n string) error { return checkName("column", n) }

func consumed(read, write int32) *otsprotocol.ConsumedCapacity {
	return &otsprotocol.ConsumedCapacity{CapacityUnit: &otsprotocol.CapacityUnit{Read: proto.Int32(read), Write: proto.Int32(write)}}
}

func unmarshal(body []byte, m proto.Message) *apiError {
	if err := proto.Unmarshal(body, m); err != nil {
		return invalid("Failed to parse the ProtoBuf message: %v.", err)
	}
	return nil
}

// ---- table operations ----

func (s *Server) createTable(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.CreateTableRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	meta := req.GetTableMeta()
	name := meta.GetTableName()
	if err := checkName("table", name); err != nil {
		return nil, invalid("%v", err)
	}
	if n := len(meta.GetPrimaryKey()); n < 1 || n > 4 {
		return nil, invalid("The number of primary key columns must be in range: [1, 4].")
	}
	if len(req.GetIndexMetas()) > 0 || len(meta.GetDefinedColumn()) > 0 {
		return nil, invalid("otsfake does not implement secondary indexes or defined columns.")
	}
	t := &table{name: name, ttl: -1, maxVersions: 1, deviation: 86400, created: s.now(), rows: map[string]*storedRow{}}
	seen := map[string]bool{}
	for _, k := range meta.GetPrimaryKey() {
		if err := checkColumnName(k.GetName()); err != nil {
			return nil, invalid("%v", err)
		}
		if seen[k.GetName()] {
			return nil, invalid("Duplicated primary key name: '%s'.", k.GetName())
		}
		seen[k.GetName()] = true
		if k.Option != nil {
			return nil, invalid("otsfake does not implement primary key options (auto increment).")
		}
		switch k.GetType() {
		case otsprotocol.PrimaryKeyType_INTEGER, otsprotocol.PrimaryKeyType_STRING, otsprotocol.PrimaryKeyType_BINARY:
		default:
			return nil, invalid("Invalid primary key type of '%s'.", k.GetName())
		}
		t.pk = append(t.pk, KeyColumn{Name: k.GetName(), Type: k.GetType()})
	}
	if o := req.GetTableOptions(); o != nil {
		if o.TimeToLive != nil {
			t.ttl = o.GetTimeToLive()
		}
		if o.MaxVersions != nil {
			t.maxVersions = o.GetMaxVersions()
		}
		if o.DeviationCellVersionInSec != nil {
			t.deviation = o.GetDeviationCellVersionInSec()
		}
	}
	if t.maxVersions != 1 {
		return nil, invalid("otsfake keeps one version per column: max_versions must be 1, got %d.", t.maxVersions)
	}
	if t.ttl == 0 || t.ttl < -1 {
		return nil, invalid("Invalid time_to_live: %d.", t.ttl)
	}
	if _, ok := s.tables[name]; ok {
		return nil, errTableExists
	}
	if len(s.tables) >= MaxTables {
		return nil, errorf(http.StatusForbidden, "OTSQuotaExhausted", "Number of tables exceeded the quota.")
	}
	s.tables[name] = t
	return &otsprotocol.CreateTableResponse{}, nil
}

func (s *Server) describeTable(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.DescribeTableRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	t, ok := s.tables[req.GetTableName()]
	if !ok {
		return nil, errNoTable
	}
	meta := &otsprotocol.TableMeta{TableName: proto.String(t.name)}
	for _, k := range t.pk {
		meta.PrimaryKey = append(meta.PrimaryKey, &otsprotocol.PrimaryKeySchema{Name: proto.String(k.Name), Type: k.Type.Enum()})
	}
	return &otsprotocol.DescribeTableResponse{
		TableMeta: meta,
		ReservedThroughputDetails: &otsprotocol.ReservedThroughputDetails{
			CapacityUnit:     &otsprotocol.CapacityUnit{Read: proto.Int32(0), Write: proto.Int32(0)},
			LastIncreaseTime: proto.Int64(t.created.Unix()),
		},
		TableOptions: &otsprotocol.TableOptions{
			TimeToLive:                proto.Int32(t.ttl),
			MaxVersions:               proto.Int32(t.maxVersions),
			DeviationCellVersionInSec: proto.Int64(t.deviation),
		},
		TableStatus:   otsprotocol.TableStatus_ACTIVE.Enum(),
		StreamDetails: &otsprotocol.StreamDetails{EnableStream: proto.Bool(false)},
	}, nil
}

func (s *Server) listTable(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.ListTableRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	resp := &otsprotocol.ListTableResponse{}
	for n := range s.tables {
		resp.TableNames = append(resp.TableNames, n)
	}
	sort.Strings(resp.TableNames)
	return resp, nil
}

func (s *Server) deleteTable(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.DeleteTableRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	if _, ok := s.tables[req.GetTableName()]; !ok {
		return nil, errNoTable
	}
	delete(s.tables, req.GetTableName())
	return &otsprotocol.DeleteTableResponse{}, nil
}

// ---- row operations ----

// checkPK verifies that pk matches the table's primary key schema.
func (t *table) checkPK(pk []Cell) *apiError {
	if len(pk) != len(t.pk) {
		return invalid("The number of primary key columns must be %d, got %d.", len(t.pk), len(pk))
	}
	for i, k := range t.pk {
		c := pk[i]
		if c.Name != k.Name {
			return invalid("Validate PK name fail. Input: %s, Meta: %s.", c.Name, k.Name)
		}
		ok := false
		switch v := c.Value.(type) {
		case int64:
			ok = k.Type == otsprotocol.PrimaryKeyType_INTEGER
		case string:
			ok = k.Type == otsprotocol.PrimaryKeyType_STRING && len(v) <= MaxKeyValue && utf8.ValidString(v)
		case []byte:
			ok = k.Type == otsprotocol.PrimaryKeyType_BINARY && len(v) <= MaxKeyValue
		}
		if !ok {
			return invalid("Validate PK type or size fail. Input: %T, Meta: %s.", c.Value, k.Type)
		}
	}
	return nil
}

// rowPK decodes a request's PlainBuffer row and checks its key against the table.
func (s *Server) rowPK(tableName string, raw []byte) (*table, *pbRow, []Cell, *apiError) {
	t, ok := s.tables[tableName]
	if !ok {
		return nil, nil, nil, errNoTable
	}
	row, err := decodeRow(raw)
	if err != nil {
		return nil, nil, nil, invalid("%v", err)
	}
	pk := make([]Cell, len(row.pk))
	for i, c := range row.pk {
		if !c.hasValue || c.hasOp || c.hasTS {
			return nil, nil, nil, invalid("Invalid primary key column '%s'.", c.name)
		}
		pk[i] = Cell{Name: c.name, Value: c.value}
	}
	if e := t.checkPK(pk); e != nil {
		return nil, nil, nil, e
	}
	return t, row, pk, nil
}

// check evaluates a write's condition against the current row (nil when absent).
func check(cond *otsprotocol.Condition, cur *storedRow) *apiError {
	if cond == nil || cond.RowExistence == nil {
		return invalid("Missing condition.")
	}
	switch cond.GetRowExistence() {
	case otsprotocol.RowExistenceExpectation_IGNORE:
	case otsprotocol.RowExistenceExpectation_EXPECT_EXIST:
		if cur == nil {
			return errConditionFailed
		}
	case otsprotocol.RowExistenceExpectation_EXPECT_NOT_EXIST:
		if cur != nil {
			return errConditionFailed
		}
	default:
		return invalid("Invalid row existence expectation.")
	}
	if len(cond.GetColumnCondition()) == 0 {
		return nil
	}
	f, err := parseFilter(cond.GetColumnCondition())
	if err != nil {
		return invalid("%v", err)
	}
	var cols map[string]Cell
	if cur != nil {
		cols = cur.cols
	}
	if !f.match(cols) {
		return errConditionFailed
	}
	return nil
}

// checkCells validates written attribute cells and returns the size they write.
func checkCells(cells []pbCell) (int, *apiError) {
	if len(cells) > MaxColumnsPerWrite {
		return 0, invalid("The number of attribute columns exceeds the limit, limit count: %d, row count: %d.", MaxColumnsPerWrite, len(cells))
	}
	size := 0
	for _, c := range cells {
		if err := checkColumnName(c.name); err != nil {
			return 0, invalid("%v", err)
		}
		size += len(c.name)
		if !c.hasValue {
			continue
		}
		switch v := c.value.(type) {
		case string:
			if len(v) > MaxColumnValue {
				return 0, invalid("The length of attribute column: '%s' exceeds the MaxLength:%d with CurrentLength:%d.", c.name, MaxColumnValue, len(v))
			}
			if !utf8.ValidString(v) {
				return 0, invalid("The value of attribute column '%s' is not valid UTF-8.", c.name)
			}
			size += len(v)
		case []byte:
			if len(v) > MaxColumnValue {
				return 0, invalid("The length of attribute column: '%s' exceeds the MaxLength:%d with CurrentLength:%d.", c.name, MaxColumnValue, len(v))
			}
			size += len(v)
		case special:
			return 0, invalid("Attribute column '%s' has no data value.", c.name)
		default:
			size += 8
		}
	}
	return size, nil
}

func pkSize(pk []Cell) int {
	n := 0
	for _, c := range pk {
		n += len(c.Name)
		switch v := c.Value.(type) {
		case string:
			n += len(v)
		case []byte:
			n += len(v)
		default:
			n += 8
		}
	}
	return n
}

func (s *Server) getRow(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.GetRowRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	t, row, pk, e := s.rowPK(req.GetTableName(), req.GetPrimaryKey())
	if e != nil {
		return nil, e
	}
	if len(row.cells) > 0 || row.deleted {
		return nil, invalid("The primary key of a read carries attribute columns or a delete marker.")
	}
	if req.MaxVersions == nil && req.TimeRange == nil {
		return nil, invalid("Neither max_versions nor time_range is set.")
	}
	if req.MaxVersions != nil && req.GetMaxVersions() < 1 {
		return nil, invalid("Invalid max_versions: %d.", req.GetMaxVersions())
	}
	if req.StartColumn != nil || req.EndColumn != nil || len(req.Token) > 0 || req.TransactionId != nil {
		return nil, invalid("otsfake does not implement start_column, end_column, token or transactions.")
	}
	if len(req.GetColumnsToGet()) > MaxColumnsToGet {
		return nil, invalid("The number of columns to get exceeds the limit: %d.", MaxColumnsToGet)
	}
	resp := &otsprotocol.GetRowResponse{Consumed: consumed(1, 0), Row: []byte{}}
	cur := t.rows[rowKey(pk)]
	if cur == nil {
		return resp, nil
	}
	if len(req.GetFilter()) > 0 {
		f, err := parseFilter(req.GetFilter())
		if err != nil {
			return nil, invalid("%v", err)
		}
		if !f.match(cur.cols) {
			return resp, nil
		}
	}
	want := map[string]bool{}
	for _, n := range req.GetColumnsToGet() {
		want[n] = true
	}
	out := &pbRow{}
	for _, c := range cur.pk {
		if len(want) == 0 || want[c.Name] {
			out.pk = append(out.pk, pbCell{name: c.Name, value: c.Value, hasValue: true})
		}
	}
	names := make([]string, 0, len(cur.cols))
	for n := range cur.cols {
		names = append(names, n)
	}
	sort.Strings(names)
	tr := req.GetTimeRange()
	for _, n := range names {
		c := cur.cols[n]
		if len(want) > 0 && !want[n] {
			continue
		}
		if tr != nil && !inRange(tr, c.Timestamp) {
			continue
		}
		out.cells = append(out.cells, pbCell{name: n, value: c.Value, hasValue: true, ts: c.Timestamp, hasTS: true})
	}
	if len(out.cells) == 0 && len(want) > 0 {
		return resp, nil
	}
	resp.Row = encodeRows(out)
	return resp, nil
}

func inRange(tr *otsprotocol.TimeRange, ts int64) bool {
	if tr.SpecificTime != nil {
		return ts == tr.GetSpecificTime()
	}
	return ts >= tr.GetStartTime() && ts < tr.GetEndTime()
}

func (s *Server) putRow(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.PutRowRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	if req.TransactionId != nil {
		return nil, invalid("otsfake does not implement transactions.")
	}
	t, row, pk, e := s.rowPK(req.GetTableName(), req.GetRow())
	if e != nil {
		return nil, e
	}
	if row.deleted {
		return nil, invalid("A PutRow row carries a delete marker.")
	}
	for _, c := range row.cells {
		if c.hasOp || !c.hasValue {
			return nil, invalid("A PutRow column '%s' carries an operation or no value.", c.name)
		}
	}
	size, e := checkCells(row.cells)
	if e != nil {
		return nil, e
	}
	if size+pkSize(pk) > MaxRowWrite {
		return nil, invalid("The total data size of a single row exceeds the limit of %d bytes: %d.", MaxRowWrite, size+pkSize(pk))
	}
	key := rowKey(pk)
	if e := check(req.GetCondition(), t.rows[key]); e != nil {
		return nil, e
	}
	ms := s.now().UnixMilli()
	nr := &storedRow{pk: pk, cols: map[string]Cell{}}
	for _, c := range row.cells {
		ts := ms
		if c.hasTS {
			ts = c.ts
		}
		if old, ok := nr.cols[c.name]; ok && old.Timestamp > ts {
			continue // the newest version of a column written twice wins
		}
		nr.cols[c.name] = Cell{Name: c.name, Value: c.value, Timestamp: ts}
	}
	t.rows[key] = nr
	resp := &otsprotocol.PutRowResponse{Consumed: consumed(0, 1)}
	if req.GetReturnContent().GetReturnType() == otsprotocol.ReturnType_RT_PK {
		resp.Row = encodeRows(pkRow(pk))
	}
	return resp, nil
}

func pkRow(pk []Cell) *pbRow {
	r := &pbRow{}
	for _, c := range pk {
		r.pk = append(r.pk, pbCell{name: c.Name, value: c.Value, hasValue: true})
	}
	return r
}

func (s *Server) updateRow(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.UpdateRowRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	if req.TransactionId != nil {
		return nil, invalid("otsfake does not implement transactions.")
	}
	t, row, pk, e := s.rowPK(req.GetTableName(), req.GetRowChange())
	if e != nil {
		return nil, e
	}
	if row.deleted {
		return nil, invalid("An UpdateRow change carries a delete marker.")
	}
	size, e := checkCells(row.cells)
	if e != nil {
		return nil, e
	}
	if size+pkSize(pk) > MaxRowWrite {
		return nil, invalid("The total data size of a single row exceeds the limit of %d bytes: %d.", MaxRowWrite, size+pkSize(pk))
	}
	key := rowKey(pk)
	cur := t.rows[key]
	if e := check(req.GetCondition(), cur); e != nil {
		return nil, e
	}
	cols := map[string]Cell{}
	if cur != nil {
		for n, c := range cur.cols {
			cols[n] = c
		}
	}
	ms := s.now().UnixMilli()
	for _, c := range row.cells {
		ts := ms
		if c.hasTS {
			ts = c.ts
		}
		switch {
		case !c.hasOp:
			if !c.hasValue {
				return nil, invalid("Column '%s' has no value to put.", c.name)
			}
			cols[c.name] = Cell{Name: c.name, Value: c.value, Timestamp: ts}
		case c.op == opDeleteAllVersions:
			delete(cols, c.name)
		case c.op == opDeleteOneVersion:
			if !c.hasTS {
				return nil, invalid("Deleting one version of '%s' needs a timestamp.", c.name)
			}
			if old, ok := cols[c.name]; ok && old.Timestamp == c.ts {
				delete(cols, c.name)
			}
		case c.op == opIncrement:
			inc, ok := c.value.(int64)
			if !ok {
				return nil, invalid("Increment of '%s' needs an integer.", c.name)
			}
			var base int64
			if old, ok := cols[c.name]; ok {
				b, isInt := old.Value.(int64)
				if !isInt {
					return nil, invalid("Column '%s' is not an integer and cannot be incremented.", c.name)
				}
				base = b
			}
			cols[c.name] = Cell{Name: c.name, Value: base + inc, Timestamp: ts}
		default:
			return nil, invalid("Invalid operation type %d of column '%s'.", c.op, c.name)
		}
	}
	if len(cols) == 0 {
		delete(t.rows, key) // a row without attribute columns is gone
	} else {
		t.rows[key] = &storedRow{pk: pk, cols: cols}
	}
	resp := &otsprotocol.UpdateRowResponse{Consumed: consumed(0, 1)}
	if rc := req.GetReturnContent(); rc.GetReturnType() == otsprotocol.ReturnType_RT_AFTER_MODIFY {
		out := pkRow(pk)
		for _, n := range rc.GetReturnColumnNames() {
			if c, ok := cols[n]; ok {
				out.cells = append(out.cells, pbCell{name: n, value: c.Value, hasValue: true, ts: c.Timestamp, hasTS: true})
			}
		}
		resp.Row = encodeRows(out)
	}
	return resp, nil
}

func (s *Server) deleteRow(body []byte) (proto.Message, *apiError) {
	var req otsprotocol.DeleteRowRequest
	if e := unmarshal(body, &req); e != nil {
		return nil, e
	}
	if req.TransactionId != nil {
		return nil, invalid("otsfake does not implement transactions.")
	}
	t, row, pk, e := s.rowPK(req.GetTableName(), req.GetPrimaryKey())
	if e != nil {
		return nil, e
	}
	if len(row.cells) > 0 {
		return nil, invalid("A DeleteRow primary key carries attribute columns.")
	}
	key := rowKey(pk)
	if e := check(req.GetCondition(), t.rows[key]); e != nil {
		return nil, e
	}
	delete(t.rows, key)
	return &otsprotocol.DeleteRowResponse{Consumed: consumed(0, 1)}, nil
}
