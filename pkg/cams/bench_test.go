package cams_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/cams/camssim"
	"github.com/wahealth/wahealth/pkg/health"
)

var (
	benchTargets = flag.Int("bench.targets", 500, "targets in BenchmarkThroughput")
	benchQPS     = flag.Float64("bench.qps", 5, "cams.qps (and the simulator's limit) in BenchmarkThroughput")
	benchLatency = flag.Duration("bench.latency", 300*time.Millisecond, "simulated CAMS latency in BenchmarkThroughput")
)

// BenchmarkThroughput checks -bench.targets targets (500) against the simulator answering
// after -bench.latency (300 ms) and enforcing -bench.qps (5) calls per second, and reports the
// achieved calls per second as a ratio of the limit (goal >= 0.95) and the number of throttled
// answers (goal 0). One iteration takes targets/qps seconds: run it with -benchtime 1x.
func BenchmarkThroughput(b *testing.B) {
	sim := camssim.New(camssim.Options{AccessKeyID: keyID, AccessKeySecret: secret, QPS: *benchQPS, Latency: *benchLatency})
	u, err := sim.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	c, err := cams.New(cams.Options{Endpoint: u, Credentials: cams.Credentials{AccessKeyID: keyID, AccessKeySecret: secret}, QPS: *benchQPS})
	if err != nil {
		b.Fatal(err)
	}
	targets := make([]health.Target, *benchTargets)
	for i := range targets {
		targets[i] = health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: fmt.Sprintf("86138%08d", i)}
	}
	for b.Loop() {
		sim.Reset()
		failed := 0
		start := time.Now()
		c.CheckAll(context.Background(), targets, func(_ int, o cams.Outcome) {
			if o.Err != nil {
				failed++
			}
		})
		elapsed := time.Since(start)
		st := sim.Stats()
		rate := float64(st.OK) / elapsed.Seconds()
		b.ReportMetric(rate, "calls/s")
		b.ReportMetric(rate / *benchQPS, "ratio-of-limit")
		b.ReportMetric(float64(st.Throttled), "throttled")
		b.ReportMetric(float64(st.MaxInWindow), "max-in-1s")
		b.ReportMetric(float64(failed), "failed")
	}
}
