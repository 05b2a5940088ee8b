package dingtalk

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// received is one request the fake robot accepted for inspection.
type received struct {
	At        time.Time // the robot's clock when it arrived
	Timestamp string
	Sign      string
	Payload   Payload
	Ignored   []string // mentions DingTalk would ignore: not "@..." in the text
}

// robot is a fake DingTalk custom robot: it checks the access token, the signature (recomputed
// here, independently of Sign) and its timestamp, the keyword and the body, and answers the
// errcodes it is told to.
type robot struct {
	t       *testing.T
	token   string
	secret  string
	keyword string
	now     func() time.Time

	mu      sync.Mutex
	answers []string // queued raw answers ("500" for an HTTP 500); errcode 0 when empty
	got     []received
	hits    int
	srv     *httptest.Server
}

func newRobot(t *testing.T, now func() time.Time) *robot {
	t.Helper()
	r := &robot{t: t, token: "tok-5f3c9a1e7d2b", now: now}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// URL is the robot's webhook URL.
func (r *robot) URL() string { return r.srv.URL + "/robot/send?access_token=" + r.token }

func (r *robot) answer(raw ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, raw...)
}

// set replaces the queued answers.
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
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, s)
	}
	if req.Method != http.MethodPost || req.URL.Path != "/robot/send" {
		http.NotFound(w, req)
		return
	}
	q := req.URL.Query()
	if q.Get("access_token") != r.token {
		reply(errcode(300001, "token is not exist"))
		return
	}
	rec := received{At: r.now(), Timestamp: q.Get("timestamp"), Sign: q.Get("sign")}
	if r.secret != "" {
		ms, err := strconv.ParseInt(rec.Timestamp, 10, 64)
		if err != nil {
			reply(errcode(310000, "invalid timestamp"))
			return
		}
		if d := r.now().Sub(time.UnixMilli(ms)); d > time.Hour || d < -time.Hour {
			reply(errcode(310000, "invalid timestamp"))
			return
		}
		mac := hmac.New(sha256.New, []byte(r.secret))
		fmt.Fprintf(mac, "%s\n%s", rec.Timestamp, r.secret)
		if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); rec.Sign != want {
			reply(errcode(310000, "sign not match"))
			return
		}
	}
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		r.t.Errorf("content type %q", ct)
	}
	body, _ := io.ReadAll(req.Body)
	if len(body) > 20000 {
		reply(errcode(460101, "message too long, exceed 20000 bytes"))
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.Payload); err != nil {
		reply(errcode(40035, "invalid json: "+err.Error()))
		return
	}
	p := rec.Payload
	if p.MsgType != "markdown" || p.Markdown.Title == "" || p.Markdown.Text == "" {
		reply(errcode(40035, "missing markdown title or text"))
		return
	}
	if r.keyword != "" && (!strings.Contains(p.Markdown.Title, r.keyword) || !strings.Contains(p.Markdown.Text, r.keyword)) {
		reply(errcode(310000, "keywords not in content"))
		return
	}
	if p.At != nil {
		for _, v := range append(append([]string(nil), p.At.AtMobiles...), p.At.AtUserIDs...) {
			if !strings.Contains(p.Markdown.Text, "@"+v) {
				rec.Ignored = append(rec.Ignored, v)
			}
		}
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
	r.got = append(r.got, rec)
	reply(errcode(0, "ok"))
}

// setup returns a notifier posting to r with its own limiter, the fake clock, and no real
// waits.
func setup(t *testing.T, r *robot, clock *fakeClock, n config.Notifier, opts ...option) *Notifier {
	t.Helper()
	n.Type = "dingtalk"
	n.WebhookURL = config.Secret(r.URL())
	if n.Secret == "" && r.secret != "" {
		n.Secret = config.Secret(r.secret)
	}
	if n.Keyword == "" {
		n.Keyword = r.keyword
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
