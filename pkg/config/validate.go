package config

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/wahealth/wahealth/pkg/health"
)

// The accepted values of the fields that select an implementation. Supporting a new backend
// or channel in the configuration is one more entry here.
var (
	nodeTypes     = []string{string(health.NodeWABA), string(health.NodePhone), string(health.NodeTemplate)}
	stateTypes    = []string{"file", "tablestore", "oss"}
	notifierTypes = []string{"console", "slack", "dingtalk", "webhook", "feishu", "wecom"}
)

// Bounds of the numeric settings.
const (
	maxQPS            = 1000
	maxTimeout        = 5 * time.Minute
	maxMaxRetries     = 20
	maxConcurrency    = 256
	autoConcurrencyLo = 4
	autoConcurrencyHi = 64
)

// ValidateAndSetDefaults fills in the defaults (see the Default constants; a target without
// custSpaceId gets the top-level one) and checks the configuration. It reports every problem
// at once as a *ValidationError. It is idempotent: a valid configuration passes again
// unchanged. Called directly on a Config built in code, a zero cams.qps or cams.timeout takes
// its default; Parse, which knows what the document sets, refuses an explicit 0.
func (c *Config) ValidateAndSetDefaults() error {
	v := validator{}
	v.config(c)
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}

// validator collects the problems of a decoded configuration.
type validator struct {
	problems []Problem
	// explicit holds the paths the document sets (nil when there is no document).
	explicit map[string]bool
	// expanded holds the paths whose value came from the environment, with the references.
	expanded map[string]string
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// quote quotes s, the value at path, for a message; a value from the environment is named by
// its references instead, so that a secret never appears in an error.
func (v *validator) quote(path, s string) string {
	if refs, ok := v.expanded[path]; ok {
		return "the value of " + refs
	}
	return quote(s)
}

// suggestion returns ` (did you mean "x"?)` for a value close to one of the choices.
func (v *validator) suggestion(path, s string, choices []string) string {
	if _, ok := v.expanded[path]; ok {
		return ""
	}
	if c := suggest(s, choices); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

func (v *validator) config(c *Config) {
	v.cams(&c.CAMS)
	v.targets(c)
	v.state(&c.State)
	v.notifiers(c)
	v.http(&c.HTTP)
	v.policy(c)
	if !c.CAMS.SkipCoveredWaba && !v.explicit["cams.skipCoveredWaba"] {
		c.CAMS.SkipCoveredWaba = true
	}
	if c.Cycle.MaxDuration < 0 {
		v.add("cycle.maxDuration", "must not be negative (0: no bound)")
	}
	// With both defaults (5 + 1) the adaptive budgets absorb the odd overlap; a sum the user
	// chose deserves a warning.
	if c.CAMS.QPS+c.HTTP.AdhocQPS > AccountQPS && (v.explicit["cams.qps"] || v.explicit["http.adhocQPS"]) {
		c.Warnings = append(c.Warnings, fmt.Sprintf("cams.qps (%g) + http.adhocQPS (%g) exceed the account's limit of %d GetWhatsappHealthStatus calls a second: expect throttling when both run at once (for example use 4 + 1)", c.CAMS.QPS, c.HTTP.AdhocQPS, AccountQPS))
	}
	switch {
	case c.CheckFailureThreshold < 0:
		v.add("checkFailureThreshold", "must be at least 1 (default %d)", DefaultCheckFailureThreshold)
	case c.CheckFailureThreshold == 0:
		c.CheckFailureThreshold = DefaultCheckFailureThreshold
	}
}

func (v *validator) http(h *HTTP) {
	switch h.Auth {
	case "":
		h.Auth = DefaultHTTPAuth
	case "token", "function":
	default:
		v.add("http.auth", "unknown %s (use token, or function when FC's authType: function protects the trigger)", v.quote("http.auth", h.Auth))
	}
	switch {
	case h.MaxBodyBytes == 0:
		h.MaxBodyBytes = DefaultMaxBodyBytes
	case h.MaxBodyBytes < 0 || h.MaxBodyBytes > 10<<20:
		v.add("http.maxBodyBytes", "must be between 1 and %d (0 means the default, %d)", 10<<20, DefaultMaxBodyBytes)
	}
	switch {
	case h.AdhocQPS == 0 && !v.explicit["http.adhocQPS"]:
		h.AdhocQPS = DefaultAdhocQPS
	case !(h.AdhocQPS > 0) || h.AdhocQPS > maxQPS:
		v.add("http.adhocQPS", "must be greater than 0 and at most %d", maxQPS)
	}
}

func (v *validator) cams(c *CAMS) {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	} else if msg := checkEndpoint(c.Endpoint); msg != "" {
		v.add("cams.endpoint", "%s", msg)
	}

	switch {
	case c.QPS == 0 && !v.explicit["cams.qps"]:
		c.QPS = DefaultQPS
	case !(c.QPS > 0):
		v.add("cams.qps", "must be greater than 0 (the account limit is 5 per second)")
	case c.QPS > maxQPS:
		v.add("cams.qps", "must be at most %d (the account limit is 5 per second)", maxQPS)
	}

	switch {
	case c.Timeout == 0 && !v.explicit["cams.timeout"]:
		c.Timeout = Duration(DefaultTimeout)
	case c.Timeout <= 0 || c.Timeout.D() > maxTimeout:
		v.add("cams.timeout", "must be greater than 0 and at most %s", "5m")
	}

	switch {
	case c.MaxRetries < -1 || c.MaxRetries > maxMaxRetries:
		v.add("cams.maxRetries", "must be between -1 (no retries) and %d (0 means the default, %d)", maxMaxRetries, DefaultMaxRetries)
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	}

	switch {
	case c.Concurrency < 0 || c.Concurrency > maxConcurrency:
		v.add("cams.concurrency", "must be between 0 (automatic) and %d", maxConcurrency)
	case c.Concurrency == 0 && c.QPS > 0 && c.QPS <= maxQPS:
		c.Concurrency = DefaultConcurrency(c.QPS)
	}
}

// checkEndpoint returns what is wrong with a CAMS endpoint, or "". Its messages never repeat
// the URL, which could carry credentials.
func checkEndpoint(s string) string {
	const example = "https://cams.ap-southeast-1.aliyuncs.com"
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a valid URL; use https://HOST, like " + example
	case u.Scheme != "https" && u.Scheme != "http":
		return "must start with https://, like " + example
	case u.User != nil:
		return "must not contain a user name or password (credentials come from the environment)"
	case u.Opaque != "" || u.Hostname() == "":
		return "has no host; use https://HOST, like " + example
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not have a path, query or fragment; use https://HOST, like " + example
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return "plain http is only allowed for loopback (a simulator); use https://..."
	}
	return ""
}

// isLoopback reports whether host is localhost or a loopback address (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *validator) targets(c *Config) {
	if len(c.Targets) == 0 {
		v.add("targets", "at least one target is required")
	}
	first := map[string]int{}
	for i := range c.Targets {
		t := &c.Targets[i]
		p := fmt.Sprintf("targets[%d]", i)
		before := len(v.problems)
		if t.CustSpaceID == "" {
			t.CustSpaceID = c.CustSpaceID
		}
		nt := health.NodeType(t.NodeType)
		switch {
		case t.NodeType == "":
			v.add(p+".nodeType", "required: one of %s", strings.Join(nodeTypes, ", "))
		case !contains(nodeTypes, t.NodeType):
			v.add(p+".nodeType", "must be one of %s, got %s%s", strings.Join(nodeTypes, ", "),
				v.quote(p+".nodeType", t.NodeType), v.suggestion(p+".nodeType", t.NodeType, nodeTypes))
		}
		if t.CustSpaceID == "" {
			v.add(p+".custSpaceId", "required: set it on the target or as the top-level custSpaceId")
		}
		if nt == health.NodeWABA && t.WabaID == "" {
			v.add(p+".wabaId", "required when nodeType is waba")
		}
		switch {
		case nt == health.NodePhone && t.PhoneNumber == "":
			v.add(p+".phoneNumber", "required when nodeType is phone")
		case nt == health.NodePhone && !isPhone(t.PhoneNumber):
			v.add(p+".phoneNumber", "%s is not a phone number", v.quote(p+".phoneNumber", t.PhoneNumber))
		case (nt == health.NodeWABA || nt == health.NodeTemplate) && t.PhoneNumber != "":
			v.add(p+".phoneNumber", "only used when nodeType is phone; remove it")
		}
		for _, f := range []struct{ key, value string }{{"templateCode", t.TemplateCode}, {"language", t.Language}} {
			switch {
			case nt == health.NodeTemplate && f.value == "":
				v.add(p+"."+f.key, "required when nodeType is template")
			case (nt == health.NodeWABA || nt == health.NodePhone) && f.value != "":
				v.add(p+"."+f.key, "only used when nodeType is template; remove it")
			}
		}
		keys := make([]string, 0, len(t.Labels))
		for k := range t.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch {
			case k == "":
				v.add(p+".labels", "a key must not be empty")
			case !isLabelKey(k):
				v.add(p+".labels", "key %s must match [A-Za-z0-9_.-]+", quote(k))
			}
		}
		if len(v.problems) > before {
			continue // a broken target is not worth comparing with the others
		}
		id := t.Health().ID()
		if j, dup := first[id]; dup {
			v.add(p, "duplicates targets[%d]", j)
		} else {
			first[id] = i
		}
	}
}

// isPhone reports whether s is a phone number: digits once "+", spaces, dashes, dots and
// brackets are removed.
func isPhone(s string) bool {
	d := health.NormalizePhone(s)
	if d == "" {
		return false
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isLabelKey(k string) bool {
	for _, r := range k {
		switch {
		case r == '_', r == '.', r == '-', '0' <= r && r <= '9', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		default:
			return false
		}
	}
	return k != ""
}

func (v *validator) state(s *State) {
	if s.Type == "" {
		s.Type = DefaultStateType
	}
	if !contains(stateTypes, s.Type) {
		v.add("state.type", "unknown %s (use one of: %s)%s", v.quote("state.type", s.Type),
			strings.Join(stateTypes, ", "), v.suggestion("state.type", s.Type, stateTypes))
		return
	}
	keys := map[string][]string{
		"file":       {"path"},
		"tablestore": {"endpoint", "instance", "table", "scope", "leaseTTL"},
		"oss":        {"endpoint", "region", "bucket", "prefix", "scope", "leaseTTL"},
	}[s.Type]
	set := map[string]bool{"path": s.Path != "", "endpoint": s.Endpoint != "", "instance": s.Instance != "", "table": s.Table != "",
		"region": s.Region != "", "bucket": s.Bucket != "", "prefix": s.Prefix != "", "scope": s.Scope != "", "leaseTTL": s.LeaseTTL != 0}
	for _, k := range []string{"path", "endpoint", "instance", "table", "region", "bucket", "prefix", "scope", "leaseTTL"} {
		if set[k] && !contains(keys, k) {
			v.add("state."+k, "not used by the %s store; remove it", s.Type)
		}
	}
	switch s.Type {
	case "file":
		if s.Path == "" {
			s.Path = DefaultStatePath
		}
		if strings.TrimSpace(s.Path) == "" {
			v.add("state.path", "must not be blank (default %s)", DefaultStatePath)
		}
		return
	case "tablestore":
		for _, k := range []struct{ name, val, hint string }{
			{"endpoint", s.Endpoint, "the instance endpoint, e.g. https://myinstance.ap-southeast-1.ots.aliyuncs.com"},
			{"instance", s.Instance, "the Tablestore instance name"},
			{"table", s.Table, "the table name, e.g. wahealth_state (checker -init-state creates it)"},
		} {
			if k.val == "" {
				v.add("state."+k.name, "required for the tablestore store: %s", k.hint)
			}
		}
	case "oss":
		if s.Bucket == "" {
			v.add("state.bucket", "required for the oss store: the bucket's name (create it yourself, without versioning)")
		}
		if s.Endpoint == "" && s.Region == "" {
			v.add("state.endpoint", "required for the oss store (or state.region): e.g. https://oss-ap-southeast-1-internal.aliyuncs.com in FC")
		}
		if s.Prefix == "" {
			s.Prefix = "wahealth/"
		}
	}
	if s.Endpoint != "" {
		if msg := checkStateEndpoint(s.Endpoint); msg != "" {
			v.add("state.endpoint", "%s", msg)
		}
	}
	if s.Scope == "" {
		s.Scope = "default"
	}
	switch {
	case s.LeaseTTL == 0:
		s.LeaseTTL = Duration(10 * time.Minute)
	case s.LeaseTTL < Duration(time.Minute) || s.LeaseTTL > Duration(24*time.Hour):
		v.add("state.leaseTTL", "must be between 1m and 24h (default 10m; longer than the function's timeout)")
	}
}

// checkStateEndpoint returns what is wrong with a store endpoint, or "".
func checkStateEndpoint(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "not a URL (want https://host)"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "plain http is only allowed for loopback addresses (a local test server); use https"
		}
	default:
		return "must be an https:// URL"
	}
	return ""
}

func (v *validator) notifiers(c *Config) {
	if len(c.Notifiers) == 0 {
		c.Notifiers = []Notifier{{Type: DefaultNotifier, Name: DefaultNotifier}}
		return
	}
	perType := map[string]int{}
	for _, n := range c.Notifiers {
		perType[n.Type]++
	}
	for i := range c.Notifiers {
		n := &c.Notifiers[i]
		p := fmt.Sprintf("notifiers[%d]", i)
		switch {
		case n.Type == "":
			v.add(p+".type", "required: one of %s", strings.Join(notifierTypes, ", "))
			continue
		case !contains(notifierTypes, n.Type):
			v.add(p+".type", "unknown %s (use one of: %s)%s", v.quote(p+".type", n.Type),
				strings.Join(notifierTypes, ", "), v.suggestion(p+".type", n.Type, notifierTypes))
		}
		if n.Name == "" {
			n.Name = n.Type
			if perType[n.Type] > 1 {
				n.Name = fmt.Sprintf("%s-%d", n.Type, i)
			}
		}
		v.notifier(p, n)
	}
	byName := map[string]int{}
	for i, n := range c.Notifiers {
		if n.Name == "" {
			continue
		}
		if j, dup := byName[n.Name]; dup {
			p := fmt.Sprintf("notifiers[%d].name", i)
			v.add(p, "%s is already the name of notifiers[%d]; names must be unique", v.quote(p, n.Name), j)
			continue
		}
		byName[n.Name] = i
	}
}
