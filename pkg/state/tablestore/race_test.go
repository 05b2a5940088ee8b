//go:build race

package tablestore

// raceEnabled scales down data-heavy tests under the race detector, which slows byte loops
// (JSON, gzip, PlainBuffer checksums) about tenfold.
const raceEnabled = true
