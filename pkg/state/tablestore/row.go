package tablestore

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	ots "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/wahealth/wahealth/pkg/state"
)

// The state row: primary key "scope" = the scope; attribute columns as below.
const (
	pkName       = "scope"
	colDocPrefix = "doc_"       // doc_0, doc_1, ...: the gzip-compressed document, in chunks
	colChunks    = "chunks"     // INTEGER: how many doc_N columns make the document
	colVersion   = "version"    // INTEGER: the compare-and-swap token (state.State.Version)
	colDigest    = "digest"     // STRING: "sha256:<hex>" of the joined chunks
	colSchema    = "schema"     // INTEGER: the document's schema version
	colUpdatedAt = "updated_at" // STRING: RFC 3339 time of the save, for people reading the table

	// Columns added to a quarantined copy.
	colQuarantinedAt   = "quarantined_at"
	colQuarantinedFrom = "quarantined_from"

	// leaseSuffix and corruptInfix name the other rows of a scope.
	leaseSuffix  = "#lease"
	corruptInfix = "#corrupt-"
)

// Size limits. Tablestore accepts attribute values up to 2 MB and PutRow writes up to 4 MB
// (https://www.alibabacloud.com/help/en/tablestore/limits-on-widecolumn-model); the chunks
// stay well below the first and the whole document below the second, with room for the other
// columns and for the two extra columns of a quarantined copy.
const (
	chunkSize   = 1536 << 10 // 1.5 MiB
	maxDocBytes = 3_900_000  // compressed
	maxChunks   = 64         // more in a stored row means damage, not a document
	// maxInflated bounds decompression, so that a damaged or hostile row cannot exhaust
	// memory.
	maxInflated = 512 << 20
)

// gzipMagic starts every gzip stream. A document without it is read as plain JSON (as
// someone might paste into the console).
var gzipMagic = []byte{0x1f, 0x8b}

// compress gzips a document.
func compress(raw []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(raw) // writes to a bytes.Buffer cannot fail
	_ = zw.Close()
	return b.Bytes()
}

// inflate returns the JSON of a stored document: gunzipped when it is gzip (the whole input
// must be gzip streams), as is otherwise.
func inflate(packed []byte) ([]byte, error) {
	if !bytes.HasPrefix(packed, gzipMagic) {
		return packed, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(raw) > maxInflated {
		return nil, fmt.Errorf("gzip: document inflates to more than %d bytes", maxInflated)
	}
	return raw, nil
}

// digestOf names the content of the joined chunks.
func digestOf(packed []byte) string {
	sum := sha256.Sum256(packed)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// docColumns are the attribute columns of a state row holding packed.
func docColumns(packed []byte, version int64, schema int, updatedAt time.Time) []ots.AttributeColumn {
	n := (len(packed) + chunkSize - 1) / chunkSize
	if n == 0 {
		n = 1
	}
	cols := make([]ots.AttributeColumn, 0, n+5)
	for i := range n {
		chunk := packed[min(i*chunkSize, len(packed)):min((i+1)*chunkSize, len(packed))]
		cols = append(cols, ots.AttributeColumn{ColumnName: colDocPrefix + strconv.Itoa(i), Value: bytes.Clone(chunk)})
	}
	return append(cols,
		ots.AttributeColumn{ColumnName: colChunks, Value: int64(n)},
		ots.AttributeColumn{ColumnName: colVersion, Value: version},
		ots.AttributeColumn{ColumnName: colDigest, Value: digestOf(packed)},
		ots.AttributeColumn{ColumnName: colSchema, Value: int64(schema)},
		ots.AttributeColumn{ColumnName: colUpdatedAt, Value: updatedAt.UTC().Format(time.RFC3339Nano)},
	)
}

// stored is what a state row holds besides the decoded document.
type stored struct {
	version int64
	digest  string // "" when the row has no digest column
}

// parseDoc decodes a state row's columns (as GetRow returned them). A row this build cannot
// read is a *state.SchemaError (its schema column or document says so) or a
// *state.CorruptError (anything else), both naming where.
func parseDoc(where string, cols map[string]any) (*state.State, stored, error) {
	var st stored
	corrupt := func(format string, args ...any) error {
		return &state.CorruptError{Where: where, Err: fmt.Errorf(format, args...)}
	}
	if v, ok := cols[colSchema]; ok {
		n, isInt := v.(int64)
		if !isInt {
			return nil, st, corrupt("column %s is a %s, want an integer", colSchema, typeName(v))
		}
		if n > state.SchemaVersion {
			return nil, st, &state.SchemaError{Where: where, Found: int(n)}
		}
	}
	v, ok := cols[colVersion]
	if !ok {
		return nil, st, corrupt("no %s column", colVersion)
	}
	if st.version, ok = v.(int64); !ok || st.version < 1 {
		return nil, st, corrupt("column %s is %v, want a positive integer", colVersion, v)
	}
	v, ok = cols[colChunks]
	if !ok {
		return nil, st, corrupt("no %s column", colChunks)
	}
	n, ok := v.(int64)
	if !ok || n < 1 || n > maxChunks {
		return nil, st, corrupt("column %s is %v, want 1 to %d", colChunks, v, maxChunks)
	}
	var packed []byte
	for i := range n {
		name := colDocPrefix + strconv.FormatInt(i, 10)
		v, ok := cols[name]
		if !ok {
			return nil, st, corrupt("chunk %s of %d is missing", name, n)
		}
		b, ok := v.([]byte)
		if !ok {
			return nil, st, corrupt("chunk %s is a %s, want binary", name, typeName(v))
		}
		packed = append(packed, b...)
	}
	if v, ok := cols[colDigest]; ok {
		if st.digest, ok = v.(string); !ok {
			return nil, st, corrupt("column %s is a %s, want a string", colDigest, typeName(v))
		}
		if got := digestOf(packed); got != st.digest {
			return nil, st, corrupt("the %d chunks do not match the digest column (%s, stored %s)", n, got, st.digest)
		}
	}
	raw, err := inflate(packed)
	if err != nil {
		return nil, st, &state.CorruptError{Where: where, Err: err}
	}
	doc, err := state.Decode(where, raw)
	if err != nil {
		return nil, st, err
	}
	doc.Version = st.version
	return doc, st, nil
}

func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "integer"
	case float64:
		return "double"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []byte:
		return "binary"
	}
	return fmt.Sprintf("%T", v)
}

// ErrTooLarge is matched by a Save whose compressed document is larger than one Tablestore
// row write accepts (about 3.9 MB compressed, typically 30 MB or more of JSON).
var ErrTooLarge = errors.New("state document too large for one tablestore row")
