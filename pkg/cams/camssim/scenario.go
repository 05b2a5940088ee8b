package camssim

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wahealth/wahealth/pkg/health"
)

// Fault is an injected failure a step answers with instead of health rows.
type Fault string

// The faults a step can inject.
const (
	// FaultNone answers normally.
	FaultNone Fault = ""
	// FaultThrottle answers HTTP 400 Throttling.User.
	FaultThrottle Fault = "throttle"
	// FaultThrottle429 answers HTTP 429 Throttling.User.
	FaultThrottle429 Fault = "throttle429"
	// FaultServerError answers HTTP 503 ServiceUnavailable.
	FaultServerError Fault = "server_error"
	// FaultInternalError answers HTTP 500 InternalError.
	FaultInternalError Fault = "internal_error"
	// FaultTimeout does not answer until the request is cancelled or the server closes.
	FaultTimeout Fault = "timeout"
	// FaultDenied answers HTTP 200 with Code Forbidden.AccessDenied and Success false.
	FaultDenied Fault = "denied"
)

// Known reports whether f is one of the faults the simulator can inject.
func (f Fault) Known() bool {
	switch f {
	case FaultNone, FaultThrottle, FaultThrottle429, FaultServerError, FaultInternalError, FaultTimeout, FaultDenied:
		return true
	}
	return false
}

// Row keys, as written in a step and in Step.Omit.
const (
	// RowPhone is the key of the PHONE_NUMBER row (phone queries).
	RowPhone = "phone"
	// RowTemplate is the key of the MESSAGE_TEMPLATE row (template queries).
	RowTemplate = "template"
	// RowWABA is the key of the WABA row (every query).
	RowWABA = "waba"
	// RowBusiness is the key of the BUSINESS row (every query).
	RowBusiness = "business"
	// RowApp is the key of the APP row (every query).
	RowApp = "app"
)

// Scenario scripts what the simulator answers, target by target.
type Scenario struct {
	// QPS overrides Options.QPS when > 0.
	QPS float64
	// Latency overrides Options.Latency when > 0.
	Latency time.Duration
	// Targets are matched in order; the first match answers.
	Targets []Target
}

// Target is one scripted query: what it matches and the steps it answers with.
type Target struct {
	NodeType health.NodeType
	// CustSpaceID restricts the match to one space; empty matches any.
	CustSpaceID string
	// PhoneNumber identifies a phone target (compared normalised).
	PhoneNumber string
	// TemplateCode and Language identify a template target.
	TemplateCode string
	Language     string
	// WabaID identifies a waba target; for the other node types it is the WabaId the rows carry.
	WabaID string
	// BusinessID is the BusinessId the rows carry.
	BusinessID string
	// Steps are served in order; the last one repeats. No steps means always healthy.
	Steps []Step
}

// Step is one scripted answer.
type Step struct {
	// Times is how many answers the step gives before the next step (0 means 1).
	Times int
	// Fault, when set, is answered instead of rows.
	Fault Fault
	// Latency is added to the server's latency for this step's answers.
	Latency time.Duration
	// Overall overrides Data.CanSendMessage; empty means the worst row.
	Overall health.Status
	// Phone, Template, WABA, Business and App script the rows of those types; nil is AVAILABLE
	// without errors. Rows the query's node type does not return are ignored.
	Phone, Template, WABA, Business, App *Row
	// Extra rows are appended verbatim.
	Extra []ExtraRow
	// Omit lists row keys (RowPhone, RowWABA, ...) left out of the answer.
	Omit []string
	// WabaID and BusinessID, when set, override the ids the generated rows carry.
	WabaID, BusinessID string
}

// Row is the scripted health of one generated row.
type Row struct {
	// Status is the row's CanSendMessage; empty means AVAILABLE. Any value is served verbatim.
	Status health.Status
	Errors []health.Error
}

// ExtraRow is a raw entity row, served exactly as written.
type ExtraRow struct {
	Type           string
	CanSendMessage string
	PhoneNumber    string
	WabaID         string
	BusinessID     string
	TemplateCode   string
	Language       string
	Errors         []health.Error
}

// LoadScenario reads and parses the scenario file at path.
func LoadScenario(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("camssim: load scenario: %w", err)
	}
	sc, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario parses a YAML scenario. Unknown keys and malformed values are errors naming
// the field path; status values are not checked (unknown statuses are kept verbatim).
func ParseScenario(b []byte) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("camssim: parse scenario: %w", err)
	}
	sc := &Scenario{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return sc, nil // empty document: every target healthy
	}
	if err := decodeScenario(resolve(doc.Content[0]), sc); err != nil {
		return nil, fmt.Errorf("camssim: parse scenario: %w", err)
	}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return sc, nil
}

// Validate checks the structure of sc: node types, the identifiers each target needs, faults,
// times, and row keys that the target's node type returns. ParseScenario calls it; call it
// yourself for a scenario built in code.
func (sc *Scenario) Validate() error {
	if sc == nil {
		return nil
	}
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if sc.QPS < 0 || math.IsNaN(sc.QPS) || math.IsInf(sc.QPS, 0) {
		add("qps", "must be a number >= 0, got %v", sc.QPS)
	}
	if sc.Latency < 0 {
		add("latency", "must not be negative, got %v", sc.Latency)
	}
	seen := map[string]int{}
	for i, t := range sc.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		var allowed []string
		switch t.NodeType {
		case health.NodePhone:
			if t.PhoneNumber == "" {
				add(p+".phoneNumber", "required for nodeType phone")
			}
			allowed = []string{RowPhone, RowWABA, RowBusiness, RowApp}
		case health.NodeTemplate:
			if t.TemplateCode == "" {
				add(p+".templateCode", "required for nodeType template")
			}
			if t.Language == "" {
				add(p+".language", "required for nodeType template")
			}
			allowed = []string{RowTemplate, RowWABA, RowBusiness, RowApp}
		case health.NodeWABA:
			if t.WabaID == "" {
				add(p+".wabaId", "required for nodeType waba")
			}
			allowed = []string{RowWABA, RowBusiness, RowApp}
		case "":
			add(p+".nodeType", "required (phone, template or waba)")
		default:
			add(p+".nodeType", "unknown node type %q (want phone, template or waba)", t.NodeType)
		}
		if k := t.matchKey(); t.NodeType != "" {
			if j, dup := seen[k]; dup {
				add(p, "matches the same queries as targets[%d]", j)
			} else {
				seen[k] = i
			}
		}
		for j, st := range t.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", p, j)
			if st.Times < 0 {
				add(sp+".times", "must be >= 1, got %d", st.Times)
			}
			if st.Latency < 0 {
				add(sp+".latency", "must not be negative, got %v", st.Latency)
			}
			if !st.Fault.Known() {
				add(sp+".fault", "unknown fault %q (want throttle, throttle429, server_error, internal_error, timeout or denied)", st.Fault)
			}
			rows := st.rowKeys()
			if st.Fault != FaultNone && (len(rows) > 0 || len(st.Extra) > 0 || st.Overall != "") {
				add(sp, "a fault step cannot also script rows or overall")
			}
			if allowed == nil {
				continue
			}
			for _, k := range rows {
				if !contains(allowed, k) {
					add(sp+"."+k, "a %s query returns no such row (rows: %s)", t.NodeType, strings.Join(allowed, ", "))
				}
			}
			for n, k := range st.Omit {
				if !contains(allowed, k) {
					add(fmt.Sprintf("%s.omit[%d]", sp, n), "a %s query returns no row %q (rows: %s)", t.NodeType, k, strings.Join(allowed, ", "))
				}
			}
			for n, x := range st.Extra {
				if x.Type == "" {
					add(fmt.Sprintf("%s.extra[%d].type", sp, n), "required")
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("camssim: invalid scenario: %w", errors.Join(errs...))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rowKeys lists the row keys the step scripts.
func (st *Step) rowKeys() []string {
	var out []string
	for _, r := range []struct {
		key string
		row *Row
	}{{RowPhone, st.Phone}, {RowTemplate, st.Template}, {RowWABA, st.WABA}, {RowBusiness, st.Business}, {RowApp, st.App}} {
		if r.row != nil {
			out = append(out, r.key)
		}
	}
	return out
}

// matchKey is the identity of the queries a target matches (empty custSpaceId = any).
func (t *Target) matchKey() string {
	switch t.NodeType {
	case health.NodePhone:
		return "phone\x00" + t.CustSpaceID + "\x00" + health.NormalizePhone(t.PhoneNumber)
	case health.NodeTemplate:
		return "template\x00" + t.CustSpaceID + "\x00" + t.TemplateCode + "\x00" + t.Language
	case health.NodeWABA:
		return "waba\x00" + t.CustSpaceID + "\x00" + t.WabaID
	}
	return string(t.NodeType) + "\x00" + t.CustSpaceID
}

// matches reports whether the target answers q.
func (t *Target) matches(q Query) bool {
	if string(t.NodeType) != q.NodeType {
		return false
	}
	if t.CustSpaceID != "" && t.CustSpaceID != q.CustSpaceID {
		return false
	}
	switch t.NodeType {
	case health.NodePhone:
		return health.NormalizePhone(t.PhoneNumber) == health.NormalizePhone(q.PhoneNumber)
	case health.NodeTemplate:
		return t.TemplateCode == q.TemplateCode && t.Language == q.Language
	case health.NodeWABA:
		return t.WabaID == q.WabaID
	}
	return false
}

// --- YAML decoding -------------------------------------------------------------------------

// pathError is a decoding error at a field path.
type pathError struct {
	path string
	line int
	msg  string
}

func (e *pathError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.path, e.msg, e.line)
	}
	return e.path + ": " + e.msg
}

func errAt(n *yaml.Node, path, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	if path == "" {
		path = "(document)"
	}
	return &pathError{path: path, line: line, msg: fmt.Sprintf(format, args...)}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode && depth < 100; depth++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "an unsupported node"
}

// fields decodes a mapping: each key must be in handlers, at most once.
func fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return errAt(n, path, "want a mapping, got %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			return errAt(k, path, "keys must be scalars")
		}
		h, ok := handlers[k.Value]
		if !ok {
			return errAt(k, join(path, k.Value), "unknown key")
		}
		if seen[k.Value] {
			return errAt(k, join(path, k.Value), "duplicate key")
		}
		seen[k.Value] = true
		if err := h(v, join(path, k.Value)); err != nil {
			return err
		}
	}
	return nil
}

// list decodes a sequence, calling item for each element with its indexed path.
func list(n *yaml.Node, path string, item func(v *yaml.Node, path string) error) error {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return errAt(n, path, "want a list, got %s", kindName(n))
	}
	for i, v := range n.Content {
		if err := item(resolve(v), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func str(dst *string) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			*dst = ""
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return errAt(n, path, "want a string, got %s", kindName(n))
		}
		*dst = n.Value
		return nil
	}
}

func status(dst *health.Status) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		var s string
		err := str(&s)(n, path)
		*dst = health.Status(s)
		return err
	}
}

func duration(dst *time.Duration) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return errAt(n, path, "want a duration like 300ms, got %s", kindName(n))
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return errAt(n, path, "want a duration like 300ms, got %q", n.Value)
		}
		if d < 0 {
			return errAt(n, path, "must not be negative, got %v", d)
		}
		*dst = d
		return nil
	}
}

func number(dst *float64) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return errAt(n, path, "want a number, got %s", kindName(n))
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return errAt(n, path, "want a number >= 0, got %q", n.Value)
		}
		*dst = f
		return nil
	}
}

func integer(dst *int) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return errAt(n, path, "want an integer, got %s", kindName(n))
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 1 {
			return errAt(n, path, "want an integer >= 1, got %q", n.Value)
		}
		*dst = v
		return nil
	}
}

func decodeScenario(n *yaml.Node, sc *Scenario) error {
	return fields(n, "", map[string]func(*yaml.Node, string) error{
		"qps":     number(&sc.QPS),
		"latency": duration(&sc.Latency),
		"targets": func(v *yaml.Node, path string) error {
			return list(v, path, func(item *yaml.Node, path string) error {
				var t Target
				if isNull(item) {
					return errAt(item, path, "empty target")
				}
				if err := decodeTarget(item, path, &t); err != nil {
					return err
				}
				sc.Targets = append(sc.Targets, t)
				return nil
			})
		},
	})
}

func decodeTarget(n *yaml.Node, path string, t *Target) error {
	var nodeType string
	err := fields(n, path, map[string]func(*yaml.Node, string) error{
		"nodeType":     str(&nodeType),
		"custSpaceId":  str(&t.CustSpaceID),
		"phoneNumber":  str(&t.PhoneNumber),
		"templateCode": str(&t.TemplateCode),
		"language":     str(&t.Language),
		"wabaId":       str(&t.WabaID),
		"businessId":   str(&t.BusinessID),
		"steps": func(v *yaml.Node, path string) error {
			return list(v, path, func(item *yaml.Node, path string) error {
				var st Step
				if err := decodeStep(item, path, &st); err != nil {
					return err
				}
				t.Steps = append(t.Steps, st)
				return nil
			})
		},
	})
	t.NodeType = health.NodeType(nodeType)
	return err
}

func decodeStep(n *yaml.Node, path string, st *Step) error {
	var fault string
	err := fields(n, path, map[string]func(*yaml.Node, string) error{
		"times":      integer(&st.Times),
		"fault":      str(&fault),
		"latency":    duration(&st.Latency),
		"overall":    status(&st.Overall),
		"phone":      row(&st.Phone),
		"template":   row(&st.Template),
		"waba":       row(&st.WABA),
		"business":   row(&st.Business),
		"app":        row(&st.App),
		"wabaId":     str(&st.WabaID),
		"businessId": str(&st.BusinessID),
		"omit": func(v *yaml.Node, path string) error {
			return list(v, path, func(item *yaml.Node, path string) error {
				var k string
				if err := str(&k)(item, path); err != nil {
					return err
				}
				st.Omit = append(st.Omit, k)
				return nil
			})
		},
		"extra": func(v *yaml.Node, path string) error {
			return list(v, path, func(item *yaml.Node, path string) error {
				var x ExtraRow
				err := fields(item, path, map[string]func(*yaml.Node, string) error{
					"type":           str(&x.Type),
					"canSendMessage": str(&x.CanSendMessage),
					"phoneNumber":    str(&x.PhoneNumber),
					"wabaId":         str(&x.WabaID),
					"businessId":     str(&x.BusinessID),
					"templateCode":   str(&x.TemplateCode),
					"language":       str(&x.Language),
					"errors":         errorList(&x.Errors),
				})
				if err != nil {
					return err
				}
				st.Extra = append(st.Extra, x)
				return nil
			})
		},
	})
	if err != nil {
		return err
	}
	st.Fault = Fault(fault)
	if !st.Fault.Known() {
		// Reported here with the line number; Validate reports it again for scenarios built in code.
		return errAt(n, join(path, "fault"), "unknown fault %q (want throttle, throttle429, server_error, internal_error, timeout or denied)", fault)
	}
	return nil
}

// row decodes a row: a status scalar, or a mapping {status, errors}.
func row(dst **Row) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		r := &Row{}
		*dst = r
		if isNull(n) {
			return nil
		}
		if n.Kind == yaml.ScalarNode {
			r.Status = health.Status(n.Value)
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return errAt(n, path, "want a status or a mapping {status, errors}, got %s", kindName(n))
		}
		return fields(n, path, map[string]func(*yaml.Node, string) error{
			"status": status(&r.Status),
			"errors": errorList(&r.Errors),
		})
	}
}

func errorList(dst *[]health.Error) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		return list(n, path, func(item *yaml.Node, path string) error {
			var e health.Error
			if isNull(item) {
				return errAt(item, path, "empty error")
			}
			if err := fields(item, path, map[string]func(*yaml.Node, string) error{
				"code":        str(&e.Code),
				"description": str(&e.Description),
				"solution":    str(&e.Solution),
			}); err != nil {
				return err
			}
			if e.Code == "" {
				return errAt(item, join(path, "code"), "required")
			}
			*dst = append(*dst, e)
			return nil
		})
	}
}
