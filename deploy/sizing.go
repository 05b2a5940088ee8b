package deploy

import (
	"math"
	"time"
)

// The assumptions behind MinTimeout and MinMemoryMB. Each mirrors a default of the code or a
// measurement; change them together with what they mirror.
const (
	// DesignTargets is the number of targets the timeout in s.yaml is sized for (at the default
	// cams.qps of 5).
	DesignTargets = 1000

	// RetryShare is the share of calls assumed to be retried within a cycle (throttled or 5xx
	// answers). Each retry takes a slot of the rate budget like a first try.
	RetryShare = 0.10
	// PacingSlack is how much slower than cams.qps the client paces its calls (pkg/cams: the
	// budget's token bucket runs 2% below the limit).
	PacingSlack = 1.02
	// MaxBackoff is the longest jittered delay before a retry (pkg/cams' default MaxBackoff).
	MaxBackoff = 10 * time.Second
	// FetchMarginShare and MinFetchMargin mirror pkg/fcrun: a cycle stops fetching at the
	// invocation's deadline minus max(timeout × FetchMarginShare, MinFetchMargin), keeping that
	// time to save state and send alerts.
	FetchMarginShare = 0.10
	MinFetchMargin   = 3 * time.Second

	// BaseMemoryMB is the resident size of a function that has not loaded any state yet: the Go
	// runtime, the SDKs, TLS buffers (measured order of magnitude, rounded up).
	BaseMemoryMB = 40
	// MemoryMBPer10kEntities is the peak memory a cycle needs per 10,000 entities: the previous
	// and the new snapshot plus the state document's JSON on both sides, doubled for the Go
	// garbage collector's headroom (GOGC=100). Measured on entities that all carry an error with
	// Meta-length texts: 7.3 MB of heap and 5.0 MB of JSON per snapshot of 10,000, so
	// 2 × (7.3 + 5.0) × 2 ≈ 50.
	MemoryMBPer10kEntities = 50
	// EntitiesPerTarget bounds the entities one target adds: its own row plus a WABA, business
	// and app row that, in the worst case, no other target shares.
	EntitiesPerTarget = 4
)

// MinTimeout returns the shortest function timeout with which one check cycle gets through
// targets targets at qps calls per second, each call bounded by callTimeout (cams.timeout):
//
//	paced   = targets × (1 + RetryShare) × PacingSlack / qps   every call, retries included
//	tail    = callTimeout + MaxBackoff                          the last call and one retry of it
//	timeout = (paced + tail) / (1 − FetchMarginShare)           fcrun stops fetching 10% early
//
// and at least paced + tail + MinFetchMargin. At the defaults (qps 5, cams.timeout 10s) that is
// about (0.2244 s × targets + 20 s) / 0.9: 300 s covers about 1,100 targets. Targets a cycle
// could not reach in time count as failed checks: nothing changes for them, and after
// checkFailureThreshold such cycles in a row a "cannot check" alert says so.
func MinTimeout(targets int, qps float64, callTimeout time.Duration) time.Duration {
	if targets <= 0 || !(qps > 0) {
		return 0
	}
	paced := float64(targets) * (1 + RetryShare) * PacingSlack / qps * float64(time.Second)
	need := paced + float64(callTimeout+MaxBackoff)
	t := max(need/(1-FetchMarginShare), need+float64(MinFetchMargin))
	return time.Duration(math.Ceil(t/float64(time.Second))) * time.Second
}

// MaxTargets returns how many targets a function with this timeout checks in one cycle at qps
// (the inverse of MinTimeout, rounded down).
func MaxTargets(timeout time.Duration, qps float64, callTimeout time.Duration) int {
	fetch := min(float64(timeout)*(1-FetchMarginShare), float64(timeout-MinFetchMargin))
	paced := fetch - float64(callTimeout+MaxBackoff)
	if paced <= 0 || !(qps > 0) {
		return 0
	}
	return int(paced / float64(time.Second) * qps / ((1 + RetryShare) * PacingSlack))
}

// MinMemoryMB returns the memory a function needs to run a cycle over targets targets:
// BaseMemoryMB plus MemoryMBPer10kEntities for every 10,000 of the (at most EntitiesPerTarget ×
// targets) entities, rounded up to a whole MB.
func MinMemoryMB(targets int) int {
	entities := float64(max(targets, 0) * EntitiesPerTarget)
	return BaseMemoryMB + int(math.Ceil(entities/10000*MemoryMBPer10kEntities))
}
