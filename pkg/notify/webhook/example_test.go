package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
	"github.com/wahealth/wahealth/pkg/notify/webhook"
)

// verifyWahealth checks a delivery's signature the way a receiver should: recompute
// HMAC-SHA256(secret, timestamp + "." + body), compare in constant time, and refuse a
// timestamp more than five minutes off (a replay). It uses the standard library only.
func verifyWahealth(secret string, h http.Header, body []byte, now time.Time) error {
	ts := h.Get("X-Wahealth-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("missing or bad X-Wahealth-Timestamp")
	}
	if math.Abs(now.Sub(time.Unix(sec, 0)).Seconds()) > 300 {
		return errors.New("stale X-Wahealth-Timestamp")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(h.Get("X-Wahealth-Signature"))) {
		return errors.New("bad X-Wahealth-Signature")
	}
	return nil
}

// Example_receiver is a receiver that verifies each delivery before trusting it, and drops
// duplicates by X-Wahealth-Delivery.
func Example_receiver() {
	const secret = "my-webhook-secret"
	seen := map[string]bool{}
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
		if err != nil {
			http.Error(w, "read error", http.StatusBadRequest)
			return
		}
		if err := verifyWahealth(secret, r.Header, body, notifytest.Time); err != nil { // time.Now() in a real receiver
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("X-Wahealth-Delivery")
		if seen[id] {
			return // a retry of a delivery already handled: answer 200 again
		}
		seen[id] = true
		var p struct {
			Version  string `json:"version"`
			Kind     string `json:"kind"`
			Severity string `json:"severity"`
			Title    string `json:"title"`
			Alerts   []struct {
				Entity struct {
					Type           string `json:"type"`
					ID             string `json:"id"`
					CanSendMessage string `json:"canSendMessage"`
				} `json:"entity"`
			} `json:"alerts"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, "bad payload", http.StatusBadRequest)
			return
		}
		fmt.Printf("v%s %s %s: %s\n", p.Version, p.Kind, p.Severity, p.Title)
		for _, a := range p.Alerts {
			fmt.Printf("  %s %s is %s\n", a.Entity.Type, a.Entity.ID, a.Entity.CanSendMessage)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()

	n, err := webhook.New(
		config.Notifier{Type: "webhook", WebhookURL: config.Secret(srv.URL + "/wahealth"), Secret: secret},
		notify.Options{HTTPClient: srv.Client(), Now: func() time.Time { return notifytest.Time }},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := notifytest.Cycle()
	fmt.Println(n.Notify(context.Background(), m), n.Notify(context.Background(), m))
	// Output:
	// v1 changes critical: WhatsApp health: 2 blocked, 1 degraded, 1 recovered
	//   PHONE_NUMBER 8613800000001 is BLOCKED
	//   WABA 1000001 is BLOCKED
	//   BUSINESS 2000001 is LIMITED
	//   MESSAGE_TEMPLATE order_shipped:en is AVAILABLE
	// <nil> <nil>
}
