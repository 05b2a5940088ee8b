package otsfake

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ts "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

const (
	testID     = "LTAI-test-id"
	testSecret = "test-secret-do-not-print"
	stsID      = "STS.test-id"
	stsSecret  = "sts-secret-do-not-print"
	stsToken   = "CAIS-sts-token"
)

// start runs a fake accepting one plain and one STS key, closed when t ends.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Credentials == nil {
		o.Credentials = []Credential{
			{AccessKeyID: testID, AccessKeySecret: testSecret},
			{AccessKeyID: stsID, AccessKeySecret: stsSecret, SecurityToken: stsToken},
		}
	}
	s := New(o)
	t.Cleanup(s.Close)
	return s
}

// client is an SDK client of s that does not retry (so each call is one request).
func client(s *Server, id, secret, token string) *ts.TableStoreClient {
	cfg := ts.NewDefaultTableStoreConfig()
	cfg.RetryTimes = 0
	return ts.NewClientWithConfig(s.URL(), s.Instance(), id, secret, token, cfg)
}

// otsErr asserts err is an SDK *OtsError with code and HTTP status.
func otsErr(t *testing.T, what string, err error, code string, status int) *ts.OtsError {
	t.Helper()
	var oe *ts.OtsError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: err = %v, want an *OtsError %s", what, err, code)
	}
	if oe.Code != code || oe.HttpStatusCode != status {
		t.Fatalf("%s: got %s (HTTP %d) %q, want %s (HTTP %d)", what, oe.Code, oe.HttpStatusCode, oe.Message, code, status)
	}
	if oe.RequestId == "" {
		t.Errorf("%s: the SDK saw no x-ots-requestid", what)
	}
	return oe
}

func createTable(t *testing.T, c *ts.TableStoreClient, name string, pk ...KeyColumn) {
	t.Helper()
	meta := &ts.TableMeta{TableName: name}
	for _, k := range pk {
		meta.AddPrimaryKeyColumn(k.Name, ts.PrimaryKeyType(k.Type))
	}
	_, err := c.CreateTable(&ts.CreateTableRequest{TableMeta: meta, TableOption: &ts.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &ts.ReservedThroughput{}})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

var scopeKey = KeyColumn{Name: "scope", Type: otsprotocol.PrimaryKeyType_STRING}

func pkOf(v string) *ts.PrimaryKey {
	pk := &ts.PrimaryKey{}
	pk.AddPrimaryKeyColumn("scope", v)
	return pk
}

func getRow(t *testing.T, c *ts.TableStoreClient, table, key string) *ts.GetRowResponse {
	t.Helper()
	resp, err := c.GetRow(&ts.GetRowRequest{SingleRowQueryCriteria: &ts.SingleRowQueryCriteria{TableName: table, PrimaryKey: pkOf(key), MaxVersion: 1}})
	if err != nil {
		t.Fatalf("GetRow %s: %v", key, err)
	}
	return resp
}

// TestSDKWritesFakeReads writes every value type through the SDK and reads the fake's storage.
func TestSDKWritesFakeReads(t *testing.T) {
	s := start(t, Options{})
	c := client(s, testID, testSecret, "")
	createTable(t, c, "t", scopeKey)
	ch := &ts.PutRowChange{TableName: "t", PrimaryKey: pkOf("row-1")}
	for _, v := range sdkValues {
		ch.AddColumn(v.name, v.value)
	}
	ch.AddColumnWithTimestamp("stamped", "x", 1600000000123)
	ch.SetCondition(ts.RowExistenceExpectation_EXPECT_NOT_EXIST)
	ch.SetReturnPk()
	resp, err := c.PutRow(&ts.PutRowRequest{PutRowChange: ch})
	if err != nil {
		t.Fatalf("PutRow: %v", err)
	}
	if len(resp.PrimaryKey.PrimaryKeys) != 1 || resp.PrimaryKey.PrimaryKeys[0].Value != "row-1" {
		t.Errorf("PutRow returned key %v, want scope=row-1", resp.PrimaryKey.PrimaryKeys)
	}
	row, ok := s.Row("t", Cell{Name: "scope", Value: "row-1"})
	if !ok {
		t.Fatal("row not stored")
	}
	for _, v := range sdkValues {
		c, ok := row.Column(v.name)
		if !ok || !sameValue(c.Value, v.value) {
			t.Errorf("stored %s = %#v, want %#v", v.name, trimAny(c.Value), trimAny(v.value))
		}
		if c.Timestamp == 0 {
			t.Errorf("stored %s has no timestamp", v.name)
		}
	}
	if c, _ := row.Column("stamped"); c.Timestamp != 1600000000123 {
		t.Errorf("client timestamp = %d, want 1600000000123", c.Timestamp)
	}
}

// TestFakeWritesSDKReads stores rows directly and reads them through the SDK, proving the
// fake's PlainBuffer encoder.
func TestFakeWritesSDKReads(t *testing.T) {
	s := start(t, Options{})
	if err := s.AddTable("multi",
		KeyColumn{Name: "a", Type: otsprotocol.PrimaryKeyType_STRING},
		KeyColumn{Name: "b", Type: otsprotocol.PrimaryKeyType_INTEGER},
		KeyColumn{Name: "c", Type: otsprotocol.PrimaryKeyType_BINARY}); err != nil {
		t.Fatal(err)
	}
	var cols []Cell
	for i, v := range sdkValues {
		cols = append(cols, Cell{Name: v.name, Value: v.value, Timestamp: int64(1700000000000 + i)})
	}
	pk := []Cell{{Name: "a", Value: "ключ"}, {Name: "b", Value: int64(-1)}, {Name: "c", Value: []byte{0, 0x75}}}
	if err := s.SetRow("multi", Row{PrimaryKey: pk, Columns: cols}); err != nil {
		t.Fatal(err)
	}
	c := client(s, testID, testSecret, "")
	sdkPK := &ts.PrimaryKey{}
	sdkPK.AddPrimaryKeyColumn("a", "ключ")
	sdkPK.AddPrimaryKeyColumn("b", int64(-1))
	sdkPK.AddPrimaryKeyColumn("c", []byte{0, 0x75})
	resp, err := c.GetRow(&ts.GetRowRequest{SingleRowQueryCriteria: &ts.SingleRowQueryCriteria{TableName: "multi", PrimaryKey: sdkPK, MaxVersion: 1}})
	if err != nil {
		t.Fatalf("GetRow: %v", err)
	}
	if len(resp.PrimaryKey.PrimaryKeys) != 3 || !sameValue(resp.PrimaryKey.PrimaryKeys[2].Value, []byte{0, 0x75}) {
		t.Errorf("key read back = %v", resp.PrimaryKey.PrimaryKeys)
	}
	got := map[string]*ts.AttributeColumn{}
	for _, col := range resp.Columns {
		got[col.ColumnName] = col
	}
	for i, v := range sdkValues {
		col := got[v.name]
		if col == nil || !sameValue(col.Value, v.value) || col.Timestamp != int64(1700000000000+i) {
			t.Errorf("SDK read %s = %+v, want %#v at %d", v.name, col, trimAny(v.value), 1700000000000+i)
		}
	}

	// columns_to_get and a missing row.
	q := &ts.SingleRowQueryCriteria{TableName: "multi", PrimaryKey: sdkPK, MaxVersion: 1}
	q.AddColumnToGet("i_neg")
	resp, err = c.GetRow(&ts.GetRowRequest{SingleRowQueryCriteria: q})
	if err != nil || len(resp.Columns) != 1 || resp.Columns[0].Value != int64(-42) {
		t.Errorf("GetRow with columns_to_get = %+v, %v; want only i_neg", resp, err)
	}
	if err := s.AddTable("t", scopeKey); err != nil {
		t.Fatal(err)
	}
	if r := getRow(t, c, "t", "nothing"); len(r.Columns) != 0 || len(r.PrimaryKey.PrimaryKeys) != 0 {
		t.Errorf("missing row read as %+v", r)
	}
}

// TestUpdateRow applies every UpdateRow operation and reads the increment result back.
func TestUpdateRow(t *testing.T) {
	s := start(t, Options{})
	c := client(s, testID, testSecret, "")
	createTable(t, c, "t", scopeKey)
	if err := s.SetRow("t", Row{PrimaryKey: []Cell{{Name: "scope", Value: "r"}}, Columns: []Cell{
		{Name: "keep", Value: "k"}, {Name: "gone", Value: "g"}, {Name: "one", Value: "o", Timestamp: 42}, {Name: "n", Value: int64(10)},
	}}); err != nil {
		t.Fatal(err)
	}
	ch := &ts.UpdateRowChange{TableName: "t", PrimaryKey: pkOf("r")}
	ch.PutColumn("new", []byte("v"))
	ch.DeleteColumn("gone")
	ch.DeleteColumnWithTimestamp("one", 42)
	ch.IncrementColumn("n", 5)
	ch.SetCondition(ts.RowExistenceExpectation_EXPECT_EXIST)
	ch.SetReturnIncrementValue()
	ch.AppendIncrementColumnToReturn("n")
	resp, err := c.UpdateRow(&ts.UpdateRowRequest{UpdateRowChange: ch})
	if err != nil {
		t.Fatalf("UpdateRow: %v", err)
	}
	if len(resp.Columns) != 1 || resp.Columns[0].Value != int64(15) {
		t.Errorf("returned increment = %+v, want n=15", resp.Columns)
	}
	row, _ := s.Row("t", Cell{Name: "scope", Value: "r"})
	var names []string
	for _, c := range row.Columns {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "keep,n,new" {
		t.Errorf("columns after update = %v, want keep,n,new", names)
	}
}

// TestConditions checks row existence and column conditions with Tablestore's semantics.
func TestConditions(t *testing.T) {
	s := start(t, Options{})
	c := client(s, testID, testSecret, "")
	createTable(t, c, "t", scopeKey)
	if err := s.SetRow("t", Row{PrimaryKey: []Cell{{Name: "scope", Value: "present"}}, Columns: []Cell{
		{Name: "version", Value: int64(3)}, {Name: "owner", Value: "a"}, {Name: "blob", Value: []byte{1, 2}},
	}}); err != nil {
		t.Fatal(err)
	}
	single := func(col string, op ts.ComparatorType, v any, filterIfMissing bool) ts.ColumnFilter {
		cc := ts.NewSingleColumnCondition(col, op, v)
		cc.FilterIfMissing = filterIfMissing
		return cc
	}
	composite := func(op ts.LogicalOperator, subs ...ts.ColumnFilter) ts.ColumnFilter {
		cc := ts.NewCompositeColumnCondition(op)
		for _, f := range subs {
			cc.AddFilter(f)
		}
		return cc
	}
	tests := []struct {
		name  string
		row   string
		exist ts.RowExistenceExpectation
		cond  ts.ColumnFilter
		ok    bool
	}{
		{"expect exist, present", "present", ts.RowExistenceExpectation_EXPECT_EXIST, nil, true},
		{"expect exist, absent", "absent", ts.RowExistenceExpectation_EXPECT_EXIST, nil, false},
		{"expect not exist, present", "present", ts.RowExistenceExpectation_EXPECT_NOT_EXIST, nil, false},
		{"expect not exist, absent", "absent", ts.RowExistenceExpectation_EXPECT_NOT_EXIST, nil, true},
		{"ignore, absent", "absent", ts.RowExistenceExpectation_IGNORE, nil, true},
		{"version == 3", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_EQUAL, int64(3), true), true},
		{"version == 2", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_EQUAL, int64(2), true), false},
		{"version != 2", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_NOT_EQUAL, int64(2), true), true},
		{"version > 2", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_GREATER_THAN, int64(2), true), true},
		{"version >= 4", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_GREATER_EQUAL, int64(4), true), false},
		{"version < 4", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_LESS_THAN, int64(4), true), true},
		{"version <= 2", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("version", ts.CT_LESS_EQUAL, int64(2), true), false},
		{"string compare", "present", ts.RowExistenceExpectation_IGNORE, single("owner", ts.CT_LESS_THAN, "b", true), true},
		{"binary equal", "present", ts.RowExistenceExpectation_IGNORE, single("blob", ts.CT_EQUAL, []byte{1, 2}, true), true},
		{"type mismatch never matches", "present", ts.RowExistenceExpectation_IGNORE, single("version", ts.CT_NOT_EQUAL, "3", false), false},
		{"missing column passes", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("nope", ts.CT_EQUAL, int64(1), false), true},
		{"missing column filtered", "present", ts.RowExistenceExpectation_EXPECT_EXIST, single("nope", ts.CT_EQUAL, int64(1), true), false},
		{"absent row, column passes if missing", "absent", ts.RowExistenceExpectation_IGNORE, single("expires", ts.CT_LESS_THAN, int64(5), false), true},
		{"absent row, column filtered if missing", "absent", ts.RowExistenceExpectation_IGNORE, single("expires", ts.CT_LESS_THAN, int64(5), true), false},
		{"AND both", "present", ts.RowExistenceExpectation_EXPECT_EXIST, composite(ts.LO_AND, single("version", ts.CT_EQUAL, int64(3), true), single("owner", ts.CT_EQUAL, "a", true)), true},
		{"AND one", "present", ts.RowExistenceExpectation_EXPECT_EXIST, composite(ts.LO_AND, single("version", ts.CT_EQUAL, int64(3), true), single("owner", ts.CT_EQUAL, "b", true)), false},
		{"OR one", "present", ts.RowExistenceExpectation_EXPECT_EXIST, composite(ts.LO_OR, single("version", ts.CT_EQUAL, int64(9), true), single("owner", ts.CT_EQUAL, "a", true)), true},
		{"NOT", "present", ts.RowExistenceExpectation_EXPECT_EXIST, composite(ts.LO_NOT, single("owner", ts.CT_EQUAL, "a", true)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.Row("t", Cell{Name: "scope", Value: tc.row})
			ch := &ts.PutRowChange{TableName: "t", PrimaryKey: pkOf(tc.row)}
			ch.AddColumn("marker", tc.name)
			ch.SetCondition(tc.exist)
			if tc.cond != nil {
				ch.SetColumnCondition(tc.cond)
			}
			_, err := c.PutRow(&ts.PutRowRequest{PutRowChange: ch})
			if tc.ok {
				if err != nil {
					t.Fatalf("PutRow: %v, want success", err)
				}
			} else {
				otsErr(t, "PutRow", err, "OTSConditionCheckFail", http.StatusForbidden)
			}
			// Restore the fixture.
			if tc.row == "present" {
				if err := s.SetRow("t", before); err != nil {
					t.Fatal(err)
				}
			} else {
				s.RemoveRow("t", Cell{Name: "scope", Value: "absent"})
			}
		})
	}

	// DeleteRow with a condition, and a composite AND of one sub-condition is refused.
	del := &ts.DeleteRowChange{TableName: "t", PrimaryKey: pkOf("present")}
	del.SetCondition(ts.RowExistenceExpectation_EXPECT_EXIST)
	del.SetColumnCondition(single("owner", ts.CT_EQUAL, "z", true))
	_, err := c.DeleteRow(&ts.DeleteRowRequest{DeleteRowChange: del})
	otsErr(t, "conditional DeleteRow", err, "OTSConditionCheckFail", http.StatusForbidden)
	del.SetCondition(ts.RowExistenceExpectation_EXPECT_EXIST)
	del.SetColumnCondition(composite(ts.LO_AND, single("owner", ts.CT_EQUAL, "a", true)))
	_, err = c.DeleteRow(&ts.DeleteRowRequest{DeleteRowChange: del})
	otsErr(t, "AND of one", err, "OTSParameterInvalid", http.StatusBadRequest)
	del.SetCondition(ts.RowExistenceExpectation_EXPECT_EXIST)
	del.SetColumnCondition(single("owner", ts.CT_EQUAL, "a", true))
	if _, err := c.DeleteRow(&ts.DeleteRowRequest{DeleteRowChange: del}); err != nil {
		t.Fatalf("DeleteRow: %v", err)
	}
	if _, ok := s.Row("t", Cell{Name: "scope", Value: "present"}); ok {
		t.Error("row still there after DeleteRow")
	}
}

// TestAuth checks that each part of the request authentication is verified.
func TestAuth(t *testing.T) {
	var now time.Time
	s := start(t, Options{Now: func() time.Time {
		if now.IsZero() {
			return time.Now()
		}
		return now
	}})
	if err := s.AddTable("t", scopeKey); err != nil {
		t.Fatal(err)
	}
	read := func(c *ts.TableStoreClient) error {
		_, err := c.GetRow(&ts.GetRowRequest{SingleRowQueryCriteria: &ts.SingleRowQueryCriteria{TableName: "t", PrimaryKey: pkOf("x"), MaxVersion: 1}})
		return err
	}
	if err := read(client(s, testID, testSecret, "")); err != nil {
		t.Fatalf("good key: %v", err)
	}
	if err := read(client(s, stsID, stsSecret, stsToken)); err != nil {
		t.Fatalf("good STS key: %v", err)
	}
	tests := []struct {
		name              string
		id, secret, token string
		msg               string
	}{
		{"wrong secret", testID, "wrong", "", "Signature mismatch."},
		{"unknown key", "LTAI-other", testSecret, "", "The AccessKeyID does not exist."},
		{"STS key without token", stsID, stsSecret, "", "The security token is missing."},
		{"STS key with wrong token", stsID, stsSecret, "CAIS-forged", "The security token is invalid."},
		{"token on a permanent key", testID, testSecret, stsToken, "A security token was sent for an AccessKey that is not temporary."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oe := otsErr(t, "GetRow", read(client(s, tc.id, tc.secret, tc.token)), "OTSAuthFailed", http.StatusForbidden)
			if oe.Message != tc.msg {
				t.Errorf("message %q, want %q", oe.Message, tc.msg)
			}
		})
	}
	t.Run("wrong instance", func(t *testing.T) {
		cfg := ts.NewDefaultTableStoreConfig()
		cfg.RetryTimes = 0
		c := ts.NewClientWithConfig(s.URL(), "other-instance", testID, testSecret, "", cfg)
		otsErr(t, "GetRow", read(c), "OTSAuthFailed", http.StatusForbidden)
	})
	t.Run("clock skew", func(t *testing.T) {
		now = time.Now().Add(16 * time.Minute)
		defer func() { now = time.Time{} }()
		oe := otsErr(t, "GetRow", read(client(s, testID, testSecret, "")), "OTSAuthFailed", http.StatusForbidden)
		if !strings.HasPrefix(oe.Message, "Mismatch between system time and x-ots-date") {
			t.Errorf("message %q", oe.Message)
		}
	})
}

// TestRawRequests sends hand-made requests to check what the SDK never gets wrong: the body
// MD5, missing headers, the method; and the response headers.
func TestRawRequests(t *testing.T) {
	s := start(t, Options{})
	if err := s.AddTable("t", scopeKey); err != nil {
		t.Fatal(err)
	}
	body, err := proto.Marshal(&otsprotocol.ListTableRequest{})
	if err != nil {
		t.Fatal(err)
	}
	send := func(method string, body []byte, edit func(h http.Header)) (*http.Response, *otsprotocol.Error) {
		t.Helper()
		req, err := http.NewRequest(method, s.URL()+"/ListTable", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(body)
		h := req.Header
		h.Set("x-ots-date", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
		h.Set("x-ots-apiversion", APIVersion)
		h.Set("x-ots-accesskeyid", testID)
		h.Set("x-ots-instancename", s.Instance())
		h.Set("x-ots-contentmd5", base64.StdEncoding.EncodeToString(sum[:]))
		if edit != nil {
			edit(h)
		}
		h.Set("x-ots-signature", Sign(testSecret, "/ListTable", h))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		sum = md5.Sum(b)
		if got := resp.Header.Get("x-ots-contentmd5"); got != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Errorf("response x-ots-contentmd5 %q does not match its body", got)
		}
		if resp.Header.Get("x-ots-requestid") == "" {
			t.Error("response has no x-ots-requestid")
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		var pe otsprotocol.Error
		if err := proto.Unmarshal(b, &pe); err != nil {
			t.Fatalf("error body is not an otsprotocol.Error: %v", err)
		}
		return resp, &pe
	}
	if resp, pe := send(http.MethodPost, body, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("well-formed request: %d %v", resp.StatusCode, pe)
	}
	if resp, pe := send(http.MethodPost, []byte{0x0a, 0x01, 'x'}, func(h http.Header) {
		h.Set("x-ots-contentmd5", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	}); resp.StatusCode != http.StatusForbidden || pe.GetCode() != "OTSAuthFailed" || !strings.Contains(pe.GetMessage(), "MD5") {
		t.Errorf("body MD5 mismatch: %d %v", resp.StatusCode, pe)
	}
	if resp, pe := send(http.MethodPost, body, func(h http.Header) { h.Del("x-ots-apiversion") }); resp.StatusCode != http.StatusBadRequest || pe.GetCode() != "OTSParameterInvalid" {
		t.Errorf("missing header: %d %v", resp.StatusCode, pe)
	}
	if resp, pe := send(http.MethodGet, nil, nil); resp.StatusCode != http.StatusMethodNotAllowed || pe.GetCode() != "OTSMethodNotAllowed" {
		t.Errorf("GET: %d %v", resp.StatusCode, pe)
	}
}

// TestTableOperations covers CreateTable (and its idempotency error), DescribeTable,
// ListTable and DeleteTable through the SDK.
func TestTableOperations(t *testing.T) {
	s := start(t, Options{})
	c := client(s, testID, testSecret, "")
	createTable(t, c, "state", scopeKey)
	meta := &ts.TableMeta{TableName: "state"}
	meta.AddPrimaryKeyColumn("scope", ts.PrimaryKeyType_STRING)
	_, err := c.CreateTable(&ts.CreateTableRequest{TableMeta: meta, TableOption: &ts.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &ts.ReservedThroughput{}})
	otsErr(t, "second CreateTable", err, "OTSObjectAlreadyExist", http.StatusConflict)

	d, err := c.DescribeTable(&ts.DescribeTableRequest{TableName: "state"})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	if len(d.TableMeta.SchemaEntry) != 1 || *d.TableMeta.SchemaEntry[0].Name != "scope" || *d.TableMeta.SchemaEntry[0].Type != ts.PrimaryKeyType_STRING || d.TableOption.MaxVersion != 1 {
		t.Errorf("DescribeTable = %+v", d.TableMeta)
	}
	l, err := c.ListTable()
	if err != nil || strings.Join(l.TableNames, ",") != "state" {
		t.Errorf("ListTable = %v, %v", l.TableNames, err)
	}
	_, err = c.DescribeTable(&ts.DescribeTableRequest{TableName: "nope"})
	otsErr(t, "DescribeTable of a missing table", err, "OTSObjectNotExist", http.StatusNotFound)
	_, err = c.GetRow(&ts.GetRowRequest{SingleRowQueryCriteria: &ts.SingleRowQueryCriteria{TableName: "nope", PrimaryKey: pkOf("x"), MaxVersion: 1}})
	otsErr(t, "GetRow of a missing table", err, "OTSObjectNotExist", http.StatusNotFound)
	if _, err := c.DeleteTable(&ts.DeleteTableRequest{TableName: "state"}); err != nil {
		t.Fatalf("DeleteTable: %v", err)
	}
	if len(s.Tables()) != 0 {
		t.Errorf("tables after DeleteTable: %v", s.Tables())
	}
}

// TestLimits checks the documented size limits.
func TestLimits(t *testing.T) {
	s := start(t, Options{})
	c := client(s, testID, testSecret, "")
	createTable(t, c, "t", scopeKey)
	put := func(cols ...[]byte) error {
		ch := &ts.PutRowChange{TableName: "t", PrimaryKey: pkOf("big")}
		for i, b := range cols {
			ch.AddColumn("doc_"+string(rune('0'+i)), b)
		}
		ch.SetCondition(ts.RowExistenceExpectation_IGNORE)
		_, err := c.PutRow(&ts.PutRowRequest{PutRowChange: ch})
		return err
	}
	if err := put(make([]byte, MaxColumnValue)); err != nil {
		t.Errorf("a 2 MB column: %v", err)
	}
	otsErr(t, "a column over 2 MB", put(make([]byte, MaxColumnValue+1)), "OTSParameterInvalid", http.StatusBadRequest)
	otsErr(t, "a row write over 4 MB", put(make([]byte, MaxColumnValue), make([]byte, MaxColumnValue), make([]byte, 10)), "OTSParameterInvalid", http.StatusBadRequest)
	// A body over 5 MB is refused before it is parsed or authenticated.
	resp, err := http.Post(s.URL()+"/PutRow", "application/x-protobuf", bytes.NewReader(make([]byte, MaxBody+1)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var pe otsprotocol.Error
	if resp.StatusCode != http.StatusRequestEntityTooLarge || proto.Unmarshal(b, &pe) != nil || pe.GetCode() != "OTSRequestBodyTooLarge" {
		t.Errorf("a body over 5 MB: HTTP %d %v", resp.StatusCode, pe.GetCode())
	}
}

// TestBreakAndFaults checks outages, injected faults and the request counters.
func TestBreakAndFaults(t *testing.T) {
	s := start(t, Options{})
	c := client(s, testID, testSecret, "")
	createTable(t, c, "t", scopeKey)
	put := func(v string) error {
		ch := &ts.PutRowChange{TableName: "t", PrimaryKey: pkOf("r")}
		ch.AddColumn("v", v)
		ch.SetCondition(ts.RowExistenceExpectation_IGNORE)
		_, err := c.PutRow(&ts.PutRowRequest{PutRowChange: ch})
		return err
	}
	s.Break()
	otsErr(t, "PutRow while broken", put("a"), "OTSServerUnavailable", http.StatusServiceUnavailable)
	s.Restore()
	if err := put("b"); err != nil {
		t.Fatalf("PutRow after Restore: %v", err)
	}

	s.Inject(Fault{Action: "PutRow", AfterApply: true})
	otsErr(t, "PutRow with a fault after applying", put("c"), "OTSServerUnavailable", http.StatusServiceUnavailable)
	if row, _ := s.Row("t", Cell{Name: "scope", Value: "r"}); row.Columns[0].Value != "c" {
		t.Errorf("the write before the fault was not applied: %v", row.Columns)
	}
	s.Inject(Fault{Action: "PutRow", Code: "OTSServerBusy", Status: http.StatusServiceUnavailable, Message: "Server is busy."})
	otsErr(t, "PutRow with a fault", put("d"), "OTSServerBusy", http.StatusServiceUnavailable)
	if row, _ := s.Row("t", Cell{Name: "scope", Value: "r"}); row.Columns[0].Value != "c" {
		t.Errorf("a refused write was applied: %v", row.Columns)
	}
	if got := s.RequestsFor("PutRow"); got != 4 {
		t.Errorf("RequestsFor(PutRow) = %d, want 4", got)
	}
	if got := s.Requests(); got != 5 {
		t.Errorf("Requests() = %d, want 5", got)
	}
}
