package wecom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wahealth/wahealth/pkg/config"
	"github.com/wahealth/wahealth/pkg/health"
	"github.com/wahealth/wahealth/pkg/notify"
	"github.com/wahealth/wahealth/pkg/notify/notifytest"
)

// fakeClock is a settable clock; its sleep advances it instead of waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: notifytest.Time} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.Advance(d)
	return nil
}

// received is one message the fake robot accepted.
type received struct {
	At      time.Time // the clock when it arrived
	Payload Payload
}

// robot is a fake WeCom group robot: it checks the key, the JSON body and WeCom's size limits,
// and answers the errcodes it is told to.
type robot struct {
	t   *testing.T
	key string
	now func() time.Time

	mu      sync.Mutex
	answers []string // queued raw answers ("500" for an HTTP 500); errcode 0 when empty
	got     []received
	hits    int
	srv     *httptest.Server
}

func newRobot(t *testing.T, now func() time.Time) *robot {
	t.Helper()
	r := &robot{t: t, key: "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", now: now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the robot's webhook URL.
func (r *robot) URL() string { return r.srv.URL + "/cgi-bin/webhook/send?key=" + r.key }

func (r *robot) set(raw ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = raw
}

func (r *robot) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *robot) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits
}

func errcode(code int, msg string) string {
	return fmt.Sprintf(`{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (r *robot) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hits++
	reply := func(s string) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = io.WriteString(w, s)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/cgi-bin/webhook/send" {
		http.NotFound(w, req)
		return
	}
	if req.URL.Query().Get("key") != r.key {
		reply(errcode(93000, "invalid webhook url, hint: [1700000000_1], from ip: 127.0.0.1, more info at https://open.work.weixin.qq.com/devtool/query?e=93000"))
		return
	}
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.t.Errorf("content type %q", ct)
	}
	var p Payload
	dec := json.NewDecoder(req.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		reply(errcode(40001, "invalid json: "+err.Error()))
		return
	}
	switch {
	case p.MsgType == "markdown" && p.Markdown != nil && p.Text == nil:
		if len(p.Markdown.Content) > 4096 {
			reply(errcode(40058, "markdown.content exceed max length 4096. invalid Request Parameter"))
			return
		}
	case p.MsgType == "text" && p.Text != nil && p.Markdown == nil:
		if len(p.Text.Content) > 2048 {
			reply(errcode(40058, "text.content exceed max length 2048"))
			return
		}
	default:
		reply(errcode(40008, "invalid message type"))
		return
	}
	if len(r.answers) > 0 {
		a := r.answers[0]
		r.answers = r.answers[1:]
		if a == "500" {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if !strings.Contains(a, `"errcode":0`) {
			reply(a)
			return
		}
	}
	r.got = append(r.got, received{At: r.now(), Payload: p})
	reply(errcode(0, "ok"))
}

// setup returns a notifier posting to r with its own limiter, the fake clock, and no real
// waits.
func setup(t *testing.T, r *robot, clock *fakeClock, n config.Notifier, opts ...option) *Notifier {
	t.Helper()
	n.Type = "wecom"
	if n.WebhookURL == "" {
		n.WebhookURL = config.Secret(r.URL())
	}
	opts = append([]option{withLimiter(newLimiter()), withSleep(clock.Sleep), withBackoff(time.Millisecond, time.Millisecond)}, opts...)
	nt, err := newNotifier(n, notify.Options{HTTPClient: r.srv.Client(), Now: clock.Now}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

// manyAlerts returns a message with n blocked phone numbers, numbered in order.
func manyAlerts(n int) *notify.Message {
	m := &notify.Message{Kind: notify.KindChanges, CycleID: "20261128T030405Z-many", Time: notifytest.Time}
	e := health.Error{Code: "141006", Description: "There is an error with the payment method.", Solution: "There was an error with your payment method. Please add a new payment method to the account."}
	for i := range n {
		id := fmt.Sprintf("86138%08d", i)
		k := health.Key{Type: health.PhoneNumber, ID: id}
		m.Alerts = append(m.Alerts, notify.Alert{
			Entity:   health.Entity{Type: health.PhoneNumber, ID: id, PhoneNumber: id, CanSendMessage: health.Blocked, Errors: []health.Error{e}},
			Severity: health.Critical,
			Changes: []health.Change{
				{Kind: health.StatusChanged, Entity: k, From: health.Available, To: health.Blocked},
				{Kind: health.ErrorAdded, Entity: k, ErrorCode: e.Code, Error: &e},
			},
		})
	}
	m.Seal()
	return m
}
