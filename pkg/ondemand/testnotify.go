package ondemand

import (
	"log/slog"
	"net/http"

	"github.com/wahealth/wahealth/pkg/monitor"
)

// TestNotifyResult is the answer of POST /test-notify.
type TestNotifyResult struct {
	// Results are each notifier's outcome, in the configured order.
	Results []monitor.NotifyResult `json:"results"`
	// OK is true when every notifier delivered the test alert.
	OK bool `json:"ok"`
}

// testNotify answers POST /test-notify: the clearly marked sample alert goes straight to every
// notifier (not through the outbox: nothing is retried or recorded), and the answer says how
// each fared. It is 200 even when a notifier failed: the request did what it asked, and the
// answer's ok and each result's error say what failed.
func (h *handler) testNotify(w http.ResponseWriter, r *http.Request) error {
	res := TestNotifyResult{Results: h.o.Monitor.TestNotify(r.Context()), OK: true}
	if res.Results == nil {
		res.Results = []monitor.NotifyResult{}
	}
	failed := 0
	for _, x := range res.Results {
		if !x.OK {
			failed++
		}
	}
	res.OK = failed == 0
	annotate(r, slog.Int("notifiers", len(res.Results)), slog.Int("failed", failed))
	return writeJSON(w, http.StatusOK, res)
}
