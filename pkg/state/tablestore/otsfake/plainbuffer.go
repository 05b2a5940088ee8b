package otsfake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// PlainBuffer is Tablestore's row encoding inside the protobuf messages: a little-endian
// header word 0x75, then rows of tagged cells, each cell and each row closed by a CRC-8
// checksum (polynomial 0x07). This file is an independent implementation of it, written from
// the format description and checked against the Go SDK by round trips in the tests.

const (
	pbHeader = 0x75

	tagRowPK         = 0x01
	tagRowData       = 0x02
	tagCell          = 0x03
	tagCellName      = 0x04
	tagCellValue     = 0x05
	tagCellType      = 0x06
	tagCellTimestamp = 0x07
	tagDeleteMarker  = 0x08
	tagRowChecksum   = 0x09
	tagCellChecksum  = 0x0A

	// Variant types of a cell value.
	vtInteger = 0x00
	vtDouble  = 0x01
	vtBoolean = 0x02
	vtString  = 0x03
	vtBlob    = 0x07
	vtInfMin  = 0x09
	vtInfMax  = 0x0A
	vtAutoInc = 0x0B

	// Cell operation types of an UpdateRow change.
	opDeleteAllVersions = 0x01
	opDeleteOneVersion  = 0x03
	opIncrement         = 0x04
)

// special is a primary-key placeholder value that is not data: INF_MIN, INF_MAX (range
// bounds) or AUTO_INCREMENT.
type special byte

// pbCell is one decoded cell.
type pbCell struct {
	name     string
	value    any // int64, float64, bool, string, []byte, special; nil when the cell has none
	hasValue bool
	op       byte // 0: put; else an op* constant
	hasOp    bool
	ts       int64
	hasTS    bool
}

// pbRow is one decoded row.
type pbRow struct {
	pk      []pbCell
	cells   []pbCell
	deleted bool // carries the delete-row marker
}

// crcTable is the CRC-8 table for polynomial 0x07.
var crcTable = func() (t [256]byte) {
	for i := range t {
		x := byte(i)
		for range 8 {
			if x&0x80 != 0 {
				x = x<<1 ^ 0x07
			} else {
				x <<= 1
			}
		}
		t[i] = x
	}
	return t
}()

func crcByte(crc, b byte) byte { return crcTable[crc^b] }

func crcBytes(crc byte, b []byte) byte {
	for _, c := range b {
		crc = crcByte(crc, c)
	}
	return crc
}

func crcUint32(crc byte, v uint32) byte {
	for range 4 {
		crc = crcByte(crc, byte(v))
		v >>= 8
	}
	return crc
}

func crcUint64(crc byte, v uint64) byte {
	for range 8 {
		crc = crcByte(crc, byte(v))
		v >>= 8
	}
	return crc
}

// valueChecksum folds a value into crc as the format defines: the type byte, then the
// payload (strings and blobs with their 32-bit length first).
func valueChecksum(crc byte, v any) byte {
	switch x := v.(type) {
	case int64:
		return crcUint64(crcByte(crc, vtInteger), uint64(x))
	case float64:
		return crcUint64(crcByte(crc, vtDouble), math.Float64bits(x))
	case bool:
		b := byte(0)
		if x {
			b = 1
		}
		return crcByte(crcByte(crc, vtBoolean), b)
	case string:
		crc = crcUint32(crcByte(crc, vtString), uint32(len(x)))
		return crcBytes(crc, []byte(x))
	case []byte:
		crc = crcUint32(crcByte(crc, vtBlob), uint32(len(x)))
		return crcBytes(crc, x)
	case special:
		return crcByte(crc, byte(x))
	}
	panic(fmt.Sprintf("otsfake: no plainbuffer type for %T", v))
}

// cellChecksum is the checksum of a cell: name, value, timestamp, then operation type.
func cellChecksum(c *pbCell) byte {
	crc := crcBytes(0, []byte(c.name))
	if c.hasValue {
		crc = valueChecksum(crc, c.value)
	}
	if c.hasTS {
		crc = crcUint64(crc, uint64(c.ts))
	}
	if c.hasOp {
		crc = crcByte(crc, c.op)
	}
	return crc
}

// rowChecksum folds the cell checksums (given in order: key cells, then data cells) and the
// delete marker.
func rowChecksum(sums []byte, deleted bool) byte {
	crc := byte(0)
	for _, c := range sums {
		crc = crcByte(crc, c)
	}
	if deleted {
		return crcByte(crc, 1)
	}
	return crcByte(crc, 0)
}

// encodeRows writes the header and rows.
func encodeRows(rows ...*pbRow) []byte {
	var b bytes.Buffer
	putU32(&b, pbHeader)
	for _, r := range rows {
		sums := make([]byte, 0, len(r.pk)+len(r.cells))
		b.WriteByte(tagRowPK)
		for i := range r.pk {
			sums = append(sums, writeCell(&b, &r.pk[i]))
		}
		if len(r.cells) > 0 {
			b.WriteByte(tagRowData)
			for i := range r.cells {
				sums = append(sums, writeCell(&b, &r.cells[i]))
			}
		}
		if r.deleted {
			b.WriteByte(tagDeleteMarker)
		}
		b.WriteByte(tagRowChecksum)
		b.WriteByte(rowChecksum(sums, r.deleted))
	}
	return b.Bytes()
}

func putU32(b *bytes.Buffer, v uint32) {
	b.Write(binary.LittleEndian.AppendUint32(nil, v))
}

func putU64(b *bytes.Buffer, v uint64) {
	b.Write(binary.LittleEndian.AppendUint64(nil, v))
}

// writeCell writes c and returns its checksum.
func writeCell(b *bytes.Buffer, c *pbCell) byte {
	b.WriteByte(tagCell)
	b.WriteByte(tagCellName)
	putU32(b, uint32(len(c.name)))
	b.WriteString(c.name)
	if c.hasValue {
		b.WriteByte(tagCellValue)
		v := encodeVariant(c.value)
		putU32(b, uint32(len(v)))
		b.Write(v)
	}
	if c.hasOp {
		b.WriteByte(tagCellType)
		b.WriteByte(c.op)
	}
	if c.hasTS {
		b.WriteByte(tagCellTimestamp)
		putU64(b, uint64(c.ts))
	}
	sum := cellChecksum(c)
	b.WriteByte(tagCellChecksum)
	b.WriteByte(sum)
	return sum
}

// encodeVariant is a value without the length prefix: the type byte and the payload. It is
// also the form of a column condition's value ("serialized SQLVariant").
func encodeVariant(v any) []byte {
	var b bytes.Buffer
	switch x := v.(type) {
	case int64:
		b.WriteByte(vtInteger)
		putU64(&b, uint64(x))
	case float64:
		b.WriteByte(vtDouble)
		putU64(&b, math.Float64bits(x))
	case bool:
		b.WriteByte(vtBoolean)
		if x {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case string:
		b.WriteByte(vtString)
		putU32(&b, uint32(len(x)))
		b.WriteString(x)
	case []byte:
		b.WriteByte(vtBlob)
		putU32(&b, uint32(len(x)))
		b.Write(x)
	case special:
		b.WriteByte(byte(x))
	default:
		panic(fmt.Sprintf("otsfake: no plainbuffer type for %T", v))
	}
	return b.Bytes()
}

// errTruncated reports input that ends inside a structure.
var errTruncated = errors.New("plainbuffer: unexpected end of input")

// pbReader decodes PlainBuffer without panicking on bad input.
type pbReader struct {
	b   []byte
	off int
}

func (r *pbReader) left() int { return len(r.b) - r.off }

func (r *pbReader) byte() (byte, error) {
	if r.left() < 1 {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *pbReader) peek() (byte, bool) {
	if r.left() < 1 {
		return 0, false
	}
	return r.b[r.off], true
}

func (r *pbReader) u32() (uint32, error) {
	if r.left() < 4 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

func (r *pbReader) u64() (uint64, error) {
	if r.left() < 8 {
		return 0, errTruncated
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v, nil
}

// view returns the next n bytes without copying them.
func (r *pbReader) view(n uint32) ([]byte, error) {
	if uint64(r.left()) < uint64(n) {
		return nil, errTruncated
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v, nil
}

// bytes returns a copy of the next n bytes.
func (r *pbReader) bytes(n uint32) ([]byte, error) {
	if uint64(r.left()) < uint64(n) {
		return nil, errTruncated
	}
	v := make([]byte, n)
	copy(v, r.b[r.off:])
	r.off += int(n)
	return v, nil
}

// decodeRows reads a header and every row after it, verifying all checksums.
func decodeRows(b []byte) ([]*pbRow, error) {
	r := &pbReader{b: b}
	h, err := r.u32()
	if err != nil {
		return nil, err
	}
	if h != pbHeader {
		return nil, fmt.Errorf("plainbuffer: header 0x%x, want 0x%x", h, pbHeader)
	}
	var rows []*pbRow
	for r.left() > 0 {
		row, err := r.row()
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", len(rows), err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// decodeRow reads exactly one row.
func decodeRow(b []byte) (*pbRow, error) {
	rows, err := decodeRows(b)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("plainbuffer: %d rows, want 1", len(rows))
	}
	return rows[0], nil
}

func (r *pbReader) row() (*pbRow, error) {
	row := &pbRow{}
	tag, err := r.byte()
	if err != nil {
		return nil, err
	}
	if tag != tagRowPK {
		return nil, fmt.Errorf("plainbuffer: tag 0x%x at offset %d, want row primary key", tag, r.off-1)
	}
	var sums, dataSums []byte
	if row.pk, sums, err = r.cells(); err != nil {
		return nil, err
	}
	if tag, ok := r.peek(); ok && tag == tagRowData {
		r.off++
		if row.cells, dataSums, err = r.cells(); err != nil {
			return nil, err
		}
	}
	if tag, ok := r.peek(); ok && tag == tagDeleteMarker {
		r.off++
		row.deleted = true
	}
	tag, err = r.byte()
	if err != nil {
		return nil, err
	}
	if tag != tagRowChecksum {
		return nil, fmt.Errorf("plainbuffer: tag 0x%x at offset %d, want row checksum", tag, r.off-1)
	}
	sum, err := r.byte()
	if err != nil {
		return nil, err
	}
	if want := rowChecksum(append(sums, dataSums...), row.deleted); sum != want {
		return nil, fmt.Errorf("plainbuffer: row checksum 0x%02x, computed 0x%02x", sum, want)
	}
	return row, nil
}

// cells reads consecutive cells and returns them with their (verified) checksums.
func (r *pbReader) cells() ([]pbCell, []byte, error) {
	var cells []pbCell
	var sums []byte
	for {
		tag, ok := r.peek()
		if !ok || tag != tagCell {
			return cells, sums, nil
		}
		r.off++
		c, sum, err := r.cell()
		if err != nil {
			return nil, nil, fmt.Errorf("cell %d: %w", len(cells), err)
		}
		cells = append(cells, c)
		sums = append(sums, sum)
	}
}

func (r *pbReader) cell() (c pbCell, sum byte, err error) {
	tag, err := r.byte()
	if err != nil {
		return c, 0, err
	}
	if tag != tagCellName {
		return c, 0, fmt.Errorf("plainbuffer: tag 0x%x, want cell name", tag)
	}
	n, err := r.u32()
	if err != nil {
		return c, 0, err
	}
	name, err := r.bytes(n)
	if err != nil {
		return c, 0, err
	}
	c.name = string(name)
	if tag, ok := r.peek(); ok && tag == tagCellValue {
		r.off++
		size, err := r.u32()
		if err != nil {
			return c, 0, err
		}
		raw, err := r.view(size)
		if err != nil {
			return c, 0, err
		}
		if c.value, err = decodeVariant(raw); err != nil {
			return c, 0, fmt.Errorf("cell %q: %w", c.name, err)
		}
		c.hasValue = true
	}
	if tag, ok := r.peek(); ok && tag == tagCellType {
		r.off++
		if c.op, err = r.byte(); err != nil {
			return c, 0, err
		}
		c.hasOp = true
	}
	if tag, ok := r.peek(); ok && tag == tagCellTimestamp {
		r.off++
		ts, err := r.u64()
		if err != nil {
			return c, 0, err
		}
		c.ts, c.hasTS = int64(ts), true
	}
	tag, err = r.byte()
	if err != nil {
		return c, 0, err
	}
	if tag != tagCellChecksum {
		return c, 0, fmt.Errorf("plainbuffer: tag 0x%x in cell %q, want cell checksum", tag, c.name)
	}
	if sum, err = r.byte(); err != nil {
		return c, 0, err
	}
	if want := cellChecksum(&c); sum != want {
		return c, 0, fmt.Errorf("plainbuffer: cell %q checksum 0x%02x, computed 0x%02x", c.name, sum, want)
	}
	return c, sum, nil
}

// decodeVariant reads a type byte and its payload, which must fill raw exactly.
func decodeVariant(raw []byte) (any, error) {
	r := &pbReader{b: raw}
	t, err := r.byte()
	if err != nil {
		return nil, err
	}
	var v any
	switch t {
	case vtInteger:
		u, err := r.u64()
		if err != nil {
			return nil, err
		}
		v = int64(u)
	case vtDouble:
		u, err := r.u64()
		if err != nil {
			return nil, err
		}
		v = math.Float64frombits(u)
	case vtBoolean:
		c, err := r.byte()
		if err != nil {
			return nil, err
		}
		v = c != 0
	case vtString, vtBlob:
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		b, err := r.bytes(n)
		if err != nil {
			return nil, err
		}
		if t == vtString {
			v = string(b)
		} else {
			v = b
		}
	case vtInfMin, vtInfMax, vtAutoInc:
		v = special(t)
	default:
		return nil, fmt.Errorf("plainbuffer: unknown value type 0x%x", t)
	}
	if r.left() != 0 {
		return nil, fmt.Errorf("plainbuffer: %d bytes after a value of type 0x%x", r.left(), t)
	}
	return v, nil
}
