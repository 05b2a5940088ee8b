package otsfake

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	ts "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// sdkValues are attribute values of every type, with edge cases, as the SDK takes them.
var sdkValues = []struct {
	name  string
	value any
}{
	{"s_empty", ""},
	{"s_ascii", "hello"},
	{"s_unicode", "ünïcode ✓ 中文 \" <x> &"},
	{"s_nul", "a\x00b"},
	{"i_zero", int64(0)},
	{"i_neg", int64(-42)},
	{"i_max", int64(math.MaxInt64)},
	{"i_min", int64(math.MinInt64)},
	{"f_pi", math.Pi},
	{"f_neg_zero", math.Copysign(0, -1)},
	{"f_inf", math.Inf(-1)},
	{"b_true", true},
	{"b_false", false},
	{"x_empty", []byte{}},
	{"x_all", allBytes()},
	{"x_big", bytes.Repeat([]byte{0xff, 0x00, 0x75}, 70000)},
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// sameValue compares decoded values, treating floats bit for bit and nil/empty blobs alike.
func sameValue(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Float64bits(fa) == math.Float64bits(fb)
	}
	if ba, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && bytes.Equal(ba, bb)
	}
	return reflect.DeepEqual(a, b)
}

// TestDecodeSDKPutRow decodes what the SDK serialises for a PutRow, checksums included.
func TestDecodeSDKPutRow(t *testing.T) {
	pk := &ts.PrimaryKey{}
	pk.AddPrimaryKeyColumn("p_str", "key/é")
	pk.AddPrimaryKeyColumn("p_int", int64(-7))
	pk.AddPrimaryKeyColumn("p_bin", []byte{0, 1, 0xfe})
	ch := &ts.PutRowChange{TableName: "t", PrimaryKey: pk}
	for i, v := range sdkValues {
		if i%3 == 0 {
			ch.AddColumnWithTimestamp(v.name, v.value, int64(1700000000000+i))
		} else {
			ch.AddColumn(v.name, v.value)
		}
	}
	row, err := decodeRow(ch.Serialize())
	if err != nil {
		t.Fatalf("decode SDK PutRow: %v", err)
	}
	wantPK := []any{"key/é", int64(-7), []byte{0, 1, 0xfe}}
	if len(row.pk) != len(wantPK) {
		t.Fatalf("decoded %d key columns, want %d", len(row.pk), len(wantPK))
	}
	for i, c := range row.pk {
		if !sameValue(c.value, wantPK[i]) {
			t.Errorf("key column %d = %#v, want %#v", i, c.value, wantPK[i])
		}
	}
	if len(row.cells) != len(sdkValues) {
		t.Fatalf("decoded %d columns, want %d", len(row.cells), len(sdkValues))
	}
	for i, v := range sdkValues {
		c := row.cells[i]
		if c.name != v.name || !sameValue(c.value, v.value) || c.hasOp {
			t.Errorf("column %d = %q %#v (op %v), want %q %#v", i, c.name, trimAny(c.value), c.hasOp, v.name, trimAny(v.value))
		}
		if wantTS := i%3 == 0; c.hasTS != wantTS || wantTS && c.ts != int64(1700000000000+i) {
			t.Errorf("column %q timestamp = %v %d, want set=%v", c.name, c.hasTS, c.ts, wantTS)
		}
	}
	if row.deleted {
		t.Error("PutRow row has a delete marker")
	}
}

func trimAny(v any) any {
	if b, ok := v.([]byte); ok && len(b) > 16 {
		return b[:16]
	}
	return v
}

// TestDecodeSDKUpdateRow decodes every UpdateRow operation the SDK serialises.
func TestDecodeSDKUpdateRow(t *testing.T) {
	pk := &ts.PrimaryKey{}
	pk.AddPrimaryKeyColumn("scope", "s")
	ch := &ts.UpdateRowChange{TableName: "t", PrimaryKey: pk}
	ch.PutColumn("put", "v")
	ch.DeleteColumn("gone")
	ch.DeleteColumnWithTimestamp("one", 1234)
	ch.IncrementColumn("n", int64(5))
	row, err := decodeRow(ch.Serialize())
	if err != nil {
		t.Fatalf("decode SDK UpdateRow: %v", err)
	}
	want := []pbCell{
		{name: "put", value: "v", hasValue: true},
		{name: "gone", op: opDeleteAllVersions, hasOp: true},
		{name: "one", op: opDeleteOneVersion, hasOp: true, ts: 1234, hasTS: true},
		{name: "n", value: int64(5), hasValue: true, op: opIncrement, hasOp: true},
	}
	if !reflect.DeepEqual(row.cells, want) {
		t.Errorf("cells = %+v\nwant    %+v", row.cells, want)
	}
}

// TestDecodeSDKPrimaryKey decodes the key of reads and deletes, with the delete marker and
// the range placeholders.
func TestDecodeSDKPrimaryKey(t *testing.T) {
	pk := &ts.PrimaryKey{}
	pk.AddPrimaryKeyColumn("a", "x")
	pk.AddPrimaryKeyColumnWithMinValue("b")
	pk.AddPrimaryKeyColumnWithMaxValue("c")
	for _, del := range []bool{false, true} {
		row, err := decodeRow(pk.Build(del))
		if err != nil {
			t.Fatalf("decode Build(%v): %v", del, err)
		}
		if row.deleted != del {
			t.Errorf("Build(%v): delete marker %v", del, row.deleted)
		}
		want := []any{"x", special(vtInfMin), special(vtInfMax)}
		for i, c := range row.pk {
			if c.value != want[i] {
				t.Errorf("Build(%v) key %d = %#v, want %#v", del, i, c.value, want[i])
			}
		}
	}
}

// TestPlainBufferRoundTrip encodes rows with the fake's encoder and decodes them again.
func TestPlainBufferRoundTrip(t *testing.T) {
	r1 := &pbRow{pk: []pbCell{{name: "scope", value: "a", hasValue: true}, {name: "n", value: int64(9), hasValue: true}}}
	for i, v := range sdkValues {
		c := pbCell{name: v.name, value: v.value, hasValue: true}
		if i%2 == 0 {
			c.ts, c.hasTS = int64(i)+1700000000000, true
		}
		r1.cells = append(r1.cells, c)
	}
	r2 := &pbRow{pk: []pbCell{{name: "k", value: []byte("bin"), hasValue: true}}, deleted: true}
	r3 := &pbRow{pk: []pbCell{{name: "k", value: "u", hasValue: true}}, cells: []pbCell{{name: "d", op: opDeleteAllVersions, hasOp: true}}}
	rows, err := decodeRows(encodeRows(r1, r2, r3))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("decoded %d rows, want 3", len(rows))
	}
	for i, want := range []*pbRow{r1, r2, r3} {
		got := rows[i]
		if len(got.pk) != len(want.pk) || len(got.cells) != len(want.cells) || got.deleted != want.deleted {
			t.Fatalf("row %d shape = %d/%d/%v, want %d/%d/%v", i, len(got.pk), len(got.cells), got.deleted, len(want.pk), len(want.cells), want.deleted)
		}
		for j := range want.cells {
			g, w := got.cells[j], want.cells[j]
			if g.name != w.name || !sameValue(g.value, w.value) || g.hasTS != w.hasTS || g.ts != w.ts || g.op != w.op {
				t.Errorf("row %d cell %d = %q %#v ts %v/%d, want %q %#v ts %v/%d", i, j, g.name, trimAny(g.value), g.hasTS, g.ts, w.name, trimAny(w.value), w.hasTS, w.ts)
			}
		}
	}
}

// TestPlainBufferRejectsDamage checks that bad checksums, truncation and unknown tags are
// errors, never panics or silently wrong rows.
func TestPlainBufferRejectsDamage(t *testing.T) {
	pk := &ts.PrimaryKey{}
	pk.AddPrimaryKeyColumn("scope", "s")
	ch := &ts.PutRowChange{TableName: "t", PrimaryKey: pk}
	ch.AddColumn("v", int64(1))
	ch.AddColumn("doc", []byte("payload"))
	good := ch.Serialize()
	if _, err := decodeRow(good); err != nil {
		t.Fatalf("good row: %v", err)
	}
	tests := map[string][]byte{
		"empty":         {},
		"bad header":    append([]byte{0x76, 0, 0, 0}, good[4:]...),
		"row checksum":  flip(good, len(good)-1),
		"cell checksum": flip(good, bytes.Index(good, []byte("payload"))+len("payload")+1),
		"value byte":    flip(good, bytes.Index(good, []byte("payload"))),
	}
	for i := 4; i < len(good); i += 3 {
		tests["truncated at "+string(rune('0'+i%10))+strings.Repeat("'", i/10)] = good[:i]
	}
	for name, b := range tests {
		if _, err := decodeRow(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x5a
	return c
}
