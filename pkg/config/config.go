// Package config loads wahealth's YAML configuration: from a file, or from the environment
// variable WAHEALTH_CONFIG holding a path or the YAML itself. ${VAR} references are expanded
// from the environment, defaults are filled in, and validation reports every problem at once,
// each naming its field path and the fix.
package config

import (
	"math"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
)

// Defaults applied by ValidateAndSetDefaults (and so by Load and Parse).
const (
	DefaultEndpoint              = "https://cams.ap-southeast-1.aliyuncs.com"
	DefaultQPS                   = 5.0
	DefaultTimeout               = 10 * time.Second
	DefaultMaxRetries            = 4
	DefaultStateType             = "file"
	DefaultStatePath             = ".wahealth/state.json"
	DefaultNotifier              = "console"
	DefaultCheckFailureThreshold = 3
	DefaultHTTPAuth              = "token"
	// AccountQPS is CAMS's documented per-account limit of GetWhatsappHealthStatus.
	AccountQPS          = 5
	DefaultMaxBodyBytes = 64 << 10
	DefaultAdhocQPS     = 1.0
	// EnvHTTPToken holds the bearer token of the HTTP function.
	EnvHTTPToken = "WAHEALTH_HTTP_TOKEN"
)

// EnvConfig is the environment variable Load reads when no path is given: a file path, or
// the YAML document itself.
const EnvConfig = "WAHEALTH_CONFIG"

// DefaultConcurrency is the cams.concurrency used when none is set: enough calls in flight to
// keep qps busy, ceil(qps*4) clamped to [4, 64].
func DefaultConcurrency(qps float64) int {
	n := math.Ceil(qps * 4)
	switch {
	case !(n >= autoConcurrencyLo):
		return autoConcurrencyLo
	case n > autoConcurrencyHi:
		return autoConcurrencyHi
	}
	return int(n)
}

// Config is the whole configuration. Its YAML key names are a public interface.
type Config struct {
	// CustSpaceID is the default custSpaceId of every target.
	CustSpaceID string `yaml:"custSpaceId"`
	// CAMS configures the CAMS client.
	CAMS CAMS `yaml:"cams"`
	// Targets are the entities to query.
	Targets []Target `yaml:"targets"`
	// State selects and configures the state store.
	State State `yaml:"state"`
	// Notifiers receive alerts. When none is configured a console notifier is used.
	Notifiers []Notifier `yaml:"notifiers"`
	// CheckFailureThreshold is how many consecutive failed fetches of a target raise one
	// "cannot check" alert (default 3).
	CheckFailureThreshold int `yaml:"checkFailureThreshold"`
	// HTTP configures the on-demand HTTP function.
	HTTP HTTP `yaml:"http"`
	// Cycle bounds one check cycle.
	Cycle Cycle `yaml:"cycle"`
	// Warnings are problems that do not stop wahealth (set by validation; not a YAML key).
	Warnings []string `yaml:"-"`
	// TemplatesDir is a directory of <channel>.tmpl files overriding the built-in alert
	// templates (a missing file keeps the built-in one).
	TemplatesDir string `yaml:"templatesDir"`

	// FailureThreshold is how many consecutive cycles an entity must be degraded before the
	// first alert (default 1).
	FailureThreshold int `yaml:"failureThreshold"`
	// SuccessThreshold is how many consecutive healthy cycles come before "recovered"
	// (default 1).
	SuccessThreshold int `yaml:"successThreshold"`
	// SendResolved sends "recovered" messages (default true).
	SendResolved bool `yaml:"sendResolved"`
	// RepeatInterval re-alerts entities still BLOCKED or LIMITED after this long (default 4h;
	// 0 turns reminders off).
	RepeatInterval Duration `yaml:"repeatInterval"`
	// Silences are maintenance windows: alerts of the entities they match are held while they
	// are active.
	Silences []Silence `yaml:"silences"`
	// Digest, when set, sends a scheduled summary of everything not available to the notifiers
	// with digest: true.
	Digest Digest `yaml:"digest"`
}

// Silence is a maintenance window in the configuration: once (start/end) or weekly
// (weekdays/from/to in a time zone).
type Silence struct {
	// Name identifies the silence in reports.
	Name string `yaml:"name"`
	// Comment says why.
	Comment string `yaml:"comment"`
	// Match selects the entities: by type, id and labels (all given must match).
	Match SilenceMatch `yaml:"match"`
	// Start and End (RFC 3339, e.g. 2026-12-01T22:00:00+08:00) bound a one-off window.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
	// Weekdays, From and To (HH:MM) make a weekly window in Timezone (default UTC); a window
	// whose To is not after From runs past midnight. No weekdays means every day.
	Weekdays []string `yaml:"weekdays"`
	From     string   `yaml:"from"`
	To       string   `yaml:"to"`
	Timezone string   `yaml:"timezone"`
}

// SilenceMatch selects the entities a silence mutes.
type SilenceMatch struct {
	Type   string            `yaml:"type"`
	ID     string            `yaml:"id"`
	Labels map[string]string `yaml:"labels"`
}

// Digest schedules a daily summary. It is on when At or Timezone is set.
type Digest struct {
	// At is the time of day, HH:MM (default 09:00).
	At string `yaml:"at"`
	// Timezone is the IANA zone of At (default UTC), e.g. Asia/Shanghai.
	Timezone string `yaml:"timezone"`
}

// Enabled reports whether a digest is configured.
func (d Digest) Enabled() bool { return d.At != "" || d.Timezone != "" }

// HTTP configures the on-demand HTTP function (functions/ondemand).
type HTTP struct {
	// Auth is how callers are authenticated: "token" (default) checks
	// "Authorization: Bearer <token>" against the environment variable WAHEALTH_HTTP_TOKEN and
	// refuses to start without it; "function" says that Function Compute's own
	// authType: function already authenticates every request, so no token is needed.
	Auth string `yaml:"auth"`
	// MaxBodyBytes bounds request bodies (default 65536); a larger body gets 413.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// AdhocQPS is the share of the account's CAMS budget that ad-hoc checks (GET /check) may
	// use, per second (default 1); requests beyond it get 429.
	AdhocQPS float64 `yaml:"adhocQPS"`
}

// CAMS configures the client of Chat App Message Service.
type CAMS struct {
	// Endpoint is the API's base URL (default DefaultEndpoint). Plain http is accepted for
	// loopback addresses only (a simulator).
	Endpoint string `yaml:"endpoint"`
	// QPS is the account's request budget per second for GetWhatsappHealthStatus (default 5).
	QPS float64 `yaml:"qps"`
	// Timeout bounds one API call (default 10s).
	Timeout Duration `yaml:"timeout"`
	// MaxRetries bounds the retries of a throttled or 5xx call (default 4; 0 keeps the default,
	// -1 disables retries). After ValidateAndSetDefaults it is the number of retries, or -1 for
	// none: use Retries for a count.
	MaxRetries int `yaml:"maxRetries"`
	// Concurrency is how many calls may be in flight (default: enough to keep QPS busy).
	Concurrency int `yaml:"concurrency"`
	// SkipCoveredWaba skips a WABA target's own query when a phone or template query of the
	// same cycle already returned that WABA's rows (default true).
	SkipCoveredWaba bool `yaml:"skipCoveredWaba"`
}

// Cycle bounds one check cycle.
type Cycle struct {
	// MaxDuration bounds the time a cycle spends calling CAMS; when the targets do not fit
	// (targets / cams.qps > maxDuration, or the FC invocation's time left), each cycle checks a
	// slice and the next continues where it stopped (default 0: no bound locally; FC's deadline
	// always applies).
	MaxDuration Duration `yaml:"maxDuration"`
}

// Retries returns how many times a call may be retried, after ValidateAndSetDefaults:
// MaxRetries, with -1 (retries disabled) as 0.
func (c CAMS) Retries() int { return max(c.MaxRetries, 0) }

// Target is one entity to query.
type Target struct {
	NodeType     string            `yaml:"nodeType"`
	CustSpaceID  string            `yaml:"custSpaceId"`
	WabaID       string            `yaml:"wabaId"`
	PhoneNumber  string            `yaml:"phoneNumber"`
	TemplateCode string            `yaml:"templateCode"`
	Language     string            `yaml:"language"`
	Labels       map[string]string `yaml:"labels"`
	// FailureThreshold and SuccessThreshold override the global ones for the entities this
	// target returns (0: the global value).
	FailureThreshold int `yaml:"failureThreshold"`
	SuccessThreshold int `yaml:"successThreshold"`
}

// Health returns the target as a health.Target (after defaults: custSpaceId filled in).
func (t Target) Health() health.Target {
	return health.Target{
		NodeType:     health.NodeType(t.NodeType),
		CustSpaceID:  t.CustSpaceID,
		WabaID:       t.WabaID,
		PhoneNumber:  t.PhoneNumber,
		TemplateCode: t.TemplateCode,
		Language:     t.Language,
		Labels:       t.Labels,
	}
}

// State selects the state store.
type State struct {
	// Type is the backend: file (default), tablestore or oss.
	Type string `yaml:"type"`
	// Path is the file backend's file (default DefaultStatePath).
	Path string `yaml:"path"`
	// Endpoint is the Tablestore instance endpoint (https://<instance>.<region>.ots.aliyuncs.com)
	// or the OSS endpoint (https://oss-<region>[-internal].aliyuncs.com).
	Endpoint string `yaml:"endpoint"`
	// Instance and Table name the Tablestore table.
	Instance string `yaml:"instance"`
	Table    string `yaml:"table"`
	// Region, Bucket and Prefix locate the OSS objects (prefix default "wahealth/").
	Region string `yaml:"region"`
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// Scope names the state within a shared table or prefix (default "default"): checkers that
	// each take a shard of the targets use one scope each.
	Scope string `yaml:"scope"`
	// LeaseTTL is how long a crashed cycle can hold the state in the cloud stores (default 10m;
	// keep it longer than the function's timeout).
	LeaseTTL Duration `yaml:"leaseTTL"`
}

// Notifier configures one alert channel. Which keys apply depends on Type (see the README's
// notifier table); a key that does not apply to the type is an error.
type Notifier struct {
	// Type is the channel: console, slack, dingtalk, webhook, feishu or wecom.
	Type string `yaml:"type"`
	// Name identifies the notifier in reports and the outbox (default: the type, with an index
	// when several share a type).
	Name string `yaml:"name"`

	// WebhookURL is the incoming webhook / robot URL (slack, dingtalk, feishu, wecom, webhook).
	WebhookURL Secret `yaml:"webhookURL"`
	// Secret signs requests: DingTalk's and Feishu's signing secret, or the HMAC-SHA256 key of
	// the generic webhook.
	Secret Secret `yaml:"secret"`
	// Token is a Slack bot token (xoxb-...), used with Channel instead of WebhookURL.
	Token Secret `yaml:"token"`
	// Channel is the Slack channel (id or #name) a bot token posts to.
	Channel string `yaml:"channel"`
	// Keyword is added to DingTalk and Feishu messages for robots with keyword security.
	Keyword string `yaml:"keyword"`
	// AtMobiles, AtUserIDs and AtAll mention people in DingTalk (and WeCom) messages whose
	// severity is in AtSeverities (default: critical).
	AtMobiles    []string `yaml:"atMobiles"`
	AtUserIDs    []string `yaml:"atUserIds"`
	AtAll        bool     `yaml:"atAll"`
	AtSeverities []string `yaml:"atSeverities"`
	// Headers are extra HTTP headers of the generic webhook.
	Headers map[string]string `yaml:"headers"`

	// Severities, when set, limit the alerts this notifier receives to these severities
	// (critical, warning, resolved, info).
	Severities []string `yaml:"severities"`
	// EntityTypes, when set, limit alerts to these entity types (PHONE_NUMBER, WABA, ...).
	EntityTypes []string `yaml:"entityTypes"`
	// Labels, when set, limit alerts to entities (and targets) carrying all these labels.
	Labels map[string]string `yaml:"labels"`
	// Template is a path to a template file replacing the channel's built-in template.
	Template string `yaml:"template"`
	// Timeout bounds one delivery (default 15s).
	Timeout Duration `yaml:"timeout"`
	// Digest makes this notifier receive the scheduled digest (see the top-level digest).
	Digest bool `yaml:"digest"`
}

// Duration is a time.Duration written in YAML as a Go duration string ("10s", "5m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
