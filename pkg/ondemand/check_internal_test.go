package ondemand

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestCycleContext checks that a cycle outlives a caller who hangs up but keeps the
// invocation's deadline and values.
func TestCycleContext(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "fc"))
	r := httptest.NewRequestWithContext(parent, http.MethodPost, "/check", nil)
	ctx, stop := cycleContext(r)
	defer stop()
	cancel()
	if ctx.Err() != nil || ctx.Value(key{}) != "fc" {
		t.Errorf("after the caller left: err %v value %v", ctx.Err(), ctx.Value(key{}))
	}

	dl := time.Now().Add(time.Hour)
	withDeadline, cancel2 := context.WithDeadline(context.Background(), dl)
	defer cancel2()
	ctx, stop = cycleContext(r.WithContext(withDeadline))
	defer stop()
	if got, ok := ctx.Deadline(); !ok || !got.Equal(dl) {
		t.Errorf("deadline %v %v, want %v", got, ok, dl)
	}
}
