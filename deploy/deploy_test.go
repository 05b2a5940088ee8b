package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/wahealth/wahealth/deploy"
	"github.com/wahealth/wahealth/pkg/config"
)

// The files under test, relative to the repository root.
const (
	sYAMLPath       = "s.yaml"
	buildScript     = "scripts/build.sh"
	exampleConfig   = "examples/fc/wahealth.yaml"
	deployDoc       = "docs/deploy.md"
	rolePolicy      = "deploy/ram-policy.json"
	setupPolicy     = "deploy/ram-policy-setup.json"
	trustPolicy     = "deploy/ram-trust-policy.json"
	checkerResource = "wahealth-checker"
	httpResource    = "wahealth-ondemand"
)

// sYAML is the part of s.yaml that the tests read. Props and trigger configs are decoded with
// KnownFields, so a misspelt fc3 key fails the test instead of being ignored by the tooling.
type sYAML struct {
	Edition   string              `yaml:"edition"`
	Name      string              `yaml:"name"`
	Access    string              `yaml:"access"`
	Vars      map[string]string   `yaml:"vars"`
	Resources map[string]resource `yaml:"resources"`
}

type resource struct {
	Component string                 `yaml:"component"`
	Actions   map[string][]runAction `yaml:"actions"`
	Props     props                  `yaml:"props"`
}

type runAction struct {
	Run  string `yaml:"run"`
	Path string `yaml:"path"`
}

// props are the fc3 function props that wahealth uses (names from the fc3 component's YAML
// specification).
type props struct {
	Region               string            `yaml:"region"`
	FunctionName         string            `yaml:"functionName"`
	Description          string            `yaml:"description"`
	Runtime              string            `yaml:"runtime"`
	Handler              string            `yaml:"handler"`
	Code                 string            `yaml:"code"`
	MemorySize           int               `yaml:"memorySize"`
	Timeout              int               `yaml:"timeout"`
	InstanceConcurrency  *int              `yaml:"instanceConcurrency"`
	InternetAccess       *bool             `yaml:"internetAccess"`
	Role                 string            `yaml:"role"`
	LogConfig            logConfig         `yaml:"logConfig"`
	EnvironmentVariables map[string]string `yaml:"environmentVariables"`
	Triggers             []trigger         `yaml:"triggers"`
}

type logConfig struct {
	Project               string `yaml:"project"`
	Logstore              string `yaml:"logstore"`
	EnableRequestMetrics  bool   `yaml:"enableRequestMetrics"`
	EnableInstanceMetrics bool   `yaml:"enableInstanceMetrics"`
	LogBeginRule          string `yaml:"logBeginRule"`
}

type trigger struct {
	TriggerName   string        `yaml:"triggerName"`
	TriggerType   string        `yaml:"triggerType"`
	Qualifier     string        `yaml:"qualifier"`
	TriggerConfig triggerConfig `yaml:"triggerConfig"`
}

// triggerConfig holds the keys of the timer and the http trigger configs.
type triggerConfig struct {
	CronExpression     string   `yaml:"cronExpression"`
	Enable             *bool    `yaml:"enable"`
	Payload            *string  `yaml:"payload"`
	AuthType           string   `yaml:"authType"`
	DisableURLInternet *bool    `yaml:"disableURLInternet"`
	Methods            []string `yaml:"methods"`
}

// buildOutput is one line of `scripts/build.sh --list`.
type buildOutput struct {
	Function, Binary, Zip, Config string
}

// repoRoot returns the repository root (the tests run in deploy/).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	return root
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadSYAML(t *testing.T) sYAML {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, sYAMLPath)))
	dec.KnownFields(true)
	var s sYAML
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("parse %s: %v", sYAMLPath, err)
	}
	return s
}

// buildScriptEnv is the environment build.sh runs with in these tests: the test's own, minus
// the variables that change where and how it builds.
func buildScriptEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "DIST_DIR" && name != "ZIP_TOOL" && name != "WAHEALTH_CONFIG_FILE" {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runBuildScript runs build.sh from dir with args and returns its stdout, stderr and exit code.
func runBuildScript(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(t), buildScript)}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s: %v", buildScript, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// buildLayout returns what build.sh produces, from the script itself (--list), by function.
func buildLayout(t *testing.T) map[string]buildOutput {
	t.Helper()
	out, errOut, code := runBuildScript(t, t.TempDir(), buildScriptEnv(), "--list")
	if code != 0 {
		t.Fatalf("%s --list: exit %d: %s", buildScript, code, errOut)
	}
	layout := map[string]buildOutput{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("%s --list: unexpected line %q", buildScript, line)
		}
		layout[f[0]] = buildOutput{Function: f[0], Binary: f[1], Zip: f[2], Config: f[3]}
	}
	if len(layout) == 0 {
		t.Fatalf("%s --list printed no function", buildScript)
	}
	return layout
}

func TestTopLevel(t *testing.T) {
	s := loadSYAML(t)
	tests := []struct{ what, got, want string }{
		{"edition", s.Edition, "3.0.0"},
		{"name", s.Name, "wahealth"},
		{"access", s.Access, "default"},
		{"vars.region", s.Vars["region"], "${env('WAHEALTH_REGION', 'ap-southeast-1')}"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %s = %q, want %q", sYAMLPath, tt.what, tt.got, tt.want)
		}
	}
	for _, name := range []string{checkerResource, httpResource} {
		if _, ok := s.Resources[name]; !ok {
			t.Errorf("%s: resource %s is missing", sYAMLPath, name)
		}
	}
}

// TestFunctionsMatchBuild checks each resource against build.sh: the handler is the binary's
// name, code is the zip, the function's source directory exists, WAHEALTH_CONFIG names the
// configuration inside the zip, and the pre-deploy action verifies that package.
func TestFunctionsMatchBuild(t *testing.T) {
	root := repoRoot(t)
	s := loadSYAML(t)
	layout := buildLayout(t)

	var handlers []string
	for name, r := range s.Resources {
		handlers = append(handlers, r.Props.Handler)
		t.Run(name, func(t *testing.T) {
			p := r.Props
			b, ok := layout[p.Handler]
			if !ok {
				t.Fatalf("handler %q is not a function build.sh builds (it builds %v)", p.Handler, slices.Sorted(maps.Keys(layout)))
			}
			tests := []struct{ what, got, want string }{
				{"component", r.Component, "fc3"},
				{"runtime", p.Runtime, "go1"},
				{"functionName", p.FunctionName, name},
				{"region", p.Region, "${vars.region}"},
				{"role", p.Role, "${vars.role}"},
				{"handler (the binary's name)", p.Handler, filepath.Base(b.Binary)},
				{"code (the zip build.sh writes)", p.Code, "./" + b.Zip},
				{"environmentVariables.WAHEALTH_CONFIG", p.EnvironmentVariables[config.EnvConfig], "/code/" + b.Config},
				{"logConfig.project", p.LogConfig.Project, "${vars.logProject}"},
				{"logConfig.logstore", p.LogConfig.Logstore, "${vars.logstore}"},
			}
			for _, tt := range tests {
				if tt.got != tt.want {
					t.Errorf("%s = %q, want %q", tt.what, tt.got, tt.want)
				}
			}
			if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`).MatchString(p.FunctionName) {
				t.Errorf("functionName %q is not a valid FC function name", p.FunctionName)
			}
			if p.Description == "" {
				t.Error("description is empty")
			}
			if p.InternetAccess == nil || !*p.InternetAccess {
				t.Error("internetAccess must be true: CAMS and the chat webhooks are public endpoints")
			}
			if err := hasMainPackage(filepath.Join(root, "functions", p.Handler)); err != nil {
				t.Errorf("handler %q: %v", p.Handler, err)
			}
			wantAction := []runAction{{Run: "bash " + buildScript + " --verify " + p.Handler, Path: "./"}}
			if diff := cmp.Diff(wantAction, r.Actions["pre-deploy"]); diff != "" {
				t.Errorf("pre-deploy actions (-want +got):\n%s", diff)
			}
		})
	}
	slices.Sort(handlers)
	if diff := cmp.Diff(slices.Sorted(maps.Keys(layout)), handlers); diff != "" {
		t.Errorf("functions built by %s vs handlers in %s (-built +declared):\n%s", buildScript, sYAMLPath, diff)
	}
}

// hasMainPackage reports why dir is not the source of a command, or nil.
func hasMainPackage(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Go files in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && regexp.MustCompile(`(?m)^package main$`).Match(b) {
			return nil
		}
	}
	return fmt.Errorf("%s has no package main", dir)
}

// TestSizing checks memory and timeout against the sizing formulas of package deploy, at the
// configuration defaults.
func TestSizing(t *testing.T) {
	s := loadSYAML(t)
	minTimeout := deploy.MinTimeout(deploy.DesignTargets, config.DefaultQPS, config.DefaultTimeout)
	minMemory := deploy.MinMemoryMB(deploy.DesignTargets)
	for _, name := range []string{checkerResource, httpResource} { // POST /check runs a full cycle too
		p := s.Resources[name].Props
		if got := time.Duration(p.Timeout) * time.Second; got < minTimeout {
			t.Errorf("%s: timeout %s < %s, the minimum for %d targets at %v qps", name, got, minTimeout, deploy.DesignTargets, config.DefaultQPS)
		}
		if p.MemorySize < max(minMemory, 128) || p.MemorySize > 32768 || p.MemorySize%64 != 0 {
			t.Errorf("%s: memorySize %d MB: want a multiple of 64 between max(128, %d) and 32768", name, p.MemorySize, minMemory)
		}
		// FC 3.0's built-in runtimes run one request per instance.
		if p.Runtime == "go1" && p.InstanceConcurrency != nil && *p.InstanceConcurrency != 1 {
			t.Errorf("%s: instanceConcurrency %d: the go1 runtime accepts only 1", name, *p.InstanceConcurrency)
		}
	}
}

func TestSizingFormulas(t *testing.T) {
	tests := []struct {
		targets     int
		qps         float64
		callTimeout time.Duration
		want        time.Duration
	}{
		// (targets × 1.1 × 1.02 / qps + callTimeout + 10 s) / 0.9, rounded up to a second.
		{1000, 5, 10 * time.Second, 272 * time.Second},
		{100, 5, 10 * time.Second, 48 * time.Second},
		{1000, 2, 10 * time.Second, 646 * time.Second},
		{1, 5, time.Second, 15 * time.Second}, // the 3 s minimum margin exceeds 10% here
		{0, 5, 10 * time.Second, 0},
		{10, 0, 10 * time.Second, 0},
	}
	for _, tt := range tests {
		if got := deploy.MinTimeout(tt.targets, tt.qps, tt.callTimeout); got != tt.want {
			t.Errorf("MinTimeout(%d, %v, %s) = %s, want %s", tt.targets, tt.qps, tt.callTimeout, got, tt.want)
		}
		if tt.want == 0 {
			continue
		}
		if n := deploy.MaxTargets(tt.want, tt.qps, tt.callTimeout); n < tt.targets {
			t.Errorf("MaxTargets(%s, %v, %s) = %d, want at least %d (the inverse of MinTimeout)", tt.want, tt.qps, tt.callTimeout, n, tt.targets)
		}
	}
	if got := deploy.MaxTargets(300*time.Second, 5, 10*time.Second); got < 1100 || got > 1120 {
		t.Errorf("MaxTargets(300s, 5, 10s) = %d, want about 1,100 (as s.yaml says)", got)
	}
	if got, want := deploy.MinMemoryMB(1000), 60; got != want {
		t.Errorf("MinMemoryMB(1000) = %d, want %d", got, want)
	}
}

// TestDocSizingTable checks the sizing table of docs/deploy.md against MinTimeout and
// MinMemoryMB: each row's minimum is the formula's, the timeout to set covers it, so does the
// shortest schedule, and the memory suffices.
func TestDocSizingTable(t *testing.T) {
	row := regexp.MustCompile(`^\|\s*([\d,]+)\s*\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*` + "`" + `(@every [^` + "`" + `]+)` + "`" + `\s*\|\s*(\d+)\s*\|`)
	var rows int
	for line := range strings.Lines(string(readFile(t, deployDoc))) {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		rows++
		var targets, minSecs, setSecs, memory int
		var qps float64
		fmt.Sscan(strings.ReplaceAll(m[1], ",", ""), &targets)
		fmt.Sscan(m[2], &qps)
		fmt.Sscan(m[3], &minSecs)
		fmt.Sscan(m[4], &setSecs)
		fmt.Sscan(m[6], &memory)
		if memory < deploy.MinMemoryMB(targets) {
			t.Errorf("%s: %d targets: memorySize %d MB is below MinMemoryMB's %d", deployDoc, targets, memory, deploy.MinMemoryMB(targets))
		}
		want := deploy.MinTimeout(targets, qps, config.DefaultTimeout)
		if time.Duration(minSecs)*time.Second != want {
			t.Errorf("%s: %d targets at %v qps: minimum %d s, but MinTimeout gives %s", deployDoc, targets, qps, minSecs, want)
		}
		if setSecs < minSecs {
			t.Errorf("%s: %d targets at %v qps: timeout to set %d s is below the minimum %d s", deployDoc, targets, qps, setSecs, minSecs)
		}
		sched, err := parseCron(m[5])
		if err != nil {
			t.Errorf("%s: %v", deployDoc, err)
		} else if sched.Every < time.Duration(setSecs)*time.Second {
			t.Errorf("%s: %d targets: schedule %s is shorter than the timeout %d s, so cycles would overlap", deployDoc, targets, m[5], setSecs)
		}
	}
	if rows < 5 {
		t.Errorf("%s: found %d sizing rows, want at least 5", deployDoc, rows)
	}
}

// timerPayload mirrors the checker's timer payload (pkg/fcrun): every field optional.
type timerPayload struct {
	Labels map[string]string `json:"labels"`
	DryRun bool              `json:"dryRun"`
}

func TestTimerTriggers(t *testing.T) {
	p := loadSYAML(t).Resources[checkerResource].Props
	if len(p.Triggers) == 0 {
		t.Fatalf("%s has no trigger, want a timer", checkerResource)
	}
	for _, tr := range p.Triggers {
		t.Run(tr.TriggerName, func(t *testing.T) {
			checkTriggerCommon(t, tr, "timer")
			c := tr.TriggerConfig
			sched, err := parseCron(c.CronExpression)
			if err != nil {
				t.Errorf("cronExpression: %v", err)
			} else if sched.Every != 0 && sched.Every < time.Duration(p.Timeout)*time.Second {
				t.Errorf("cronExpression %q runs more often than the timeout (%d s): cycles would overlap", c.CronExpression, p.Timeout)
			}
			if c.Enable == nil {
				t.Error("triggerConfig.enable is missing (fc3 requires it)")
			}
			if c.Payload == nil {
				t.Fatal("triggerConfig.payload is missing")
			}
			dec := json.NewDecoder(strings.NewReader(*c.Payload))
			dec.DisallowUnknownFields()
			var pl timerPayload
			if err := dec.Decode(&pl); err != nil {
				t.Errorf("payload %q is not the checker's payload object: %v", *c.Payload, err)
			}
			if c.AuthType != "" || c.Methods != nil || c.DisableURLInternet != nil {
				t.Error("the timer trigger carries http trigger keys")
			}
		})
	}
	if c := p.Triggers[0].TriggerConfig; c.CronExpression != "@every 5m" || c.Enable == nil || !*c.Enable {
		t.Errorf("the shipped schedule is %q (enabled: %v), want @every 5m, enabled", c.CronExpression, c.Enable != nil && *c.Enable)
	}
}

// servedMethods returns the HTTP methods the on-demand handler's code routes, found in its
// sources (http.MethodX constants and "METHOD /path" patterns), plus the ones the design
// promises.
func servedMethods(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	set := map[string]bool{"GET": true, "POST": true, "DELETE": true}
	constRe := regexp.MustCompile(`http\.Method(Get|Head|Post|Put|Patch|Delete|Options)\b`)
	patternRe := regexp.MustCompile(`"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /`)
	for _, dir := range []string{"pkg/ondemand", "functions/ondemand"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range constRe.FindAllStringSubmatch(string(b), -1) {
				set[strings.ToUpper(m[1])] = true
			}
			for _, m := range patternRe.FindAllStringSubmatch(string(b), -1) {
				set[m[1]] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func TestHTTPTrigger(t *testing.T) {
	p := loadSYAML(t).Resources[httpResource].Props
	if len(p.Triggers) != 1 {
		t.Fatalf("%s has %d triggers, want exactly one http trigger", httpResource, len(p.Triggers))
	}
	tr := p.Triggers[0]
	checkTriggerCommon(t, tr, "http")
	c := tr.TriggerConfig
	fcMethods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	for _, m := range c.Methods {
		if !slices.Contains(fcMethods, m) {
			t.Errorf("method %q is not one FC's HTTP trigger accepts (%v)", m, fcMethods)
		}
	}
	for _, m := range servedMethods(t) {
		if !slices.Contains(c.Methods, m) {
			t.Errorf("the on-demand handler serves %s but the trigger's methods %v do not include it", m, c.Methods)
		}
	}
	if c.CronExpression != "" || c.Payload != nil || c.Enable != nil {
		t.Error("the http trigger carries timer trigger keys")
	}

	// The trigger's authentication and the function's must agree.
	cfg := parseExampleConfig(t)
	_, hasToken := p.EnvironmentVariables[config.EnvHTTPToken]
	switch c.AuthType {
	case "anonymous":
		if cfg.HTTP.Auth != "token" || !hasToken {
			t.Errorf("authType anonymous: the function must check a token (http.auth %q in %s, %s set: %v)", cfg.HTTP.Auth, exampleConfig, config.EnvHTTPToken, hasToken)
		}
	case "function":
		if cfg.HTTP.Auth != "function" {
			t.Errorf("authType function: %s must say http.auth: function, says %q", exampleConfig, cfg.HTTP.Auth)
		}
	default:
		t.Errorf("authType %q: want anonymous or function", c.AuthType)
	}
}

func checkTriggerCommon(t *testing.T, tr trigger, typ string) {
	t.Helper()
	if tr.TriggerType != typ {
		t.Errorf("triggerType = %q, want %q", tr.TriggerType, typ)
	}
	if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,127}$`).MatchString(tr.TriggerName) {
		t.Errorf("triggerName %q is not a valid FC trigger name", tr.TriggerName)
	}
	if tr.Qualifier != "LATEST" {
		t.Errorf("qualifier = %q, want LATEST (the function has no versions)", tr.Qualifier)
	}
}

// envRef matches a value taken from the deployer's environment, with an optional default.
var envRef = regexp.MustCompile(`^\$\{env\('([A-Za-z_][A-Za-z0-9_]*)'(?:,\s*'([^']*)')?\)\}$`)

// commentedEnv matches an environment variable prepared in a comment, ready to enable.
var commentedEnv = regexp.MustCompile(`(?m)^\s*#\s*([A-Z][A-Z0-9_]*):\s*(\$\{env\('[^']*'\)\})\s*$`)

// envValueBudget is the room counted for each value taken from the deployer's environment when
// adding up a function's variables against FC's 4 KB (a token, a webhook URL, a secret).
const envValueBudget = 256

// fcProvided are variables FC sets in every function.
var fcProvided = []string{"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN"}

// goStringLiterals returns every "NAME"-style string literal of the non-test Go sources under
// pkg/ and functions/ (the code that runs in the functions).
func goStringLiterals(t *testing.T) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	lit := regexp.MustCompile(`"([A-Z][A-Z0-9_]*)"`)
	found := map[string]bool{}
	for _, dir := range []string{"pkg", "functions"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
				found[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// configRefs returns the ${NAME} references of the example configuration: those in its YAML
// values (active) and those anywhere in its text, comments included (prepared).
func configRefs(t *testing.T) (active, prepared map[string]bool) {
	t.Helper()
	ref := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}`)
	text := string(readFile(t, exampleConfig))
	prepared = map[string]bool{}
	for _, m := range ref.FindAllStringSubmatch(text, -1) {
		prepared[m[1]] = true
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("%s: %v", exampleConfig, err)
	}
	active = map[string]bool{}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			for _, m := range ref.FindAllStringSubmatch(n.Value, -1) {
				active[m[1]] = true
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return active, prepared
}

// TestEnvironmentVariables checks every variable s.yaml sets, and every one it prepares in a
// comment: a name FC accepts, within 4 KB in all, secrets only from the deployer's environment,
// and each one used, either read by the code or referenced by the example configuration.
func TestEnvironmentVariables(t *testing.T) {
	s := loadSYAML(t)
	raw := string(readFile(t, sYAMLPath))
	code := goStringLiterals(t)
	active, prepared := configRefs(t)
	validName := regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
	secretName := regexp.MustCompile(`(?i)token|secret|webhook|password|access_?key`)

	check := func(t *testing.T, name, value string) {
		t.Helper()
		if !validName.MatchString(name) {
			t.Errorf("%s: FC needs a letter, then letters, digits and _", name)
		}
		if strings.HasPrefix(strings.ToUpper(name), "FC_") {
			t.Errorf("%s: FC reserves the FC_ prefix", name)
		}
		m := envRef.FindStringSubmatch(value)
		if m != nil && m[1] != name {
			t.Errorf("%s is taken from the deployer's variable %s: use the same name", name, m[1])
		}
		if secretName.MatchString(name) && (m == nil || m[2] != "") {
			t.Errorf("%s looks secret: its value must be ${env('%s')} with no default, not %q", name, name, value)
		}
		if !code[name] && !prepared[name] {
			t.Errorf("%s is neither read by the code (no %q in pkg/ or functions/) nor referenced as ${%s} in %s", name, name, name, exampleConfig)
		}
	}

	for rname, r := range s.Resources {
		t.Run(rname, func(t *testing.T) {
			env := r.Props.EnvironmentVariables
			size := 0
			for name, value := range env {
				check(t, name, value)
				size += len(name)
				if envRef.MatchString(value) {
					size += envValueBudget
				} else {
					size += len(value)
				}
			}
			if size > 4096 {
				t.Errorf("the variables take about %d bytes; FC allows 4096", size)
			}
			// The configuration must find every variable it references, or it does not load.
			for name := range active {
				if _, ok := env[name]; !ok && !slices.Contains(fcProvided, name) {
					t.Errorf("%s references ${%s}, which this function does not set", exampleConfig, name)
				}
			}
		})
	}
	t.Run("prepared in comments", func(t *testing.T) {
		matches := commentedEnv.FindAllStringSubmatch(raw, -1)
		if len(matches) == 0 {
			t.Fatalf("%s prepares no notifier secret in comments", sYAMLPath)
		}
		for _, m := range matches {
			check(t, m[1], m[2])
		}
	})
}

// TestDeployerVariablesDocumented checks that every variable s.yaml needs from the deployer
// (an ${env('NAME')} without default, which stops s when unset) is explained in docs/deploy.md.
func TestDeployerVariablesDocumented(t *testing.T) {
	doc := string(readFile(t, deployDoc))
	noDefault := regexp.MustCompile(`\$\{env\('([A-Za-z_][A-Za-z0-9_]*)'\)\}`)
	var names []string
	for line := range strings.Lines(string(readFile(t, sYAMLPath))) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range noDefault.FindAllStringSubmatch(line, -1) {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s takes nothing from the deployer's environment", sYAMLPath)
	}
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if !strings.Contains(doc, n+"=") { // as in .env or export NAME=
			t.Errorf("%s needs %s from the deployer's environment, but %s does not show how to set it", sYAMLPath, n, deployDoc)
		}
	}
}

// parseExampleConfig loads the example configuration with the real loader, every variable the
// functions set given a dummy value.
func parseExampleConfig(t *testing.T) *config.Config {
	t.Helper()
	s := loadSYAML(t)
	env := map[string]string{}
	for _, r := range s.Resources {
		for name := range r.Props.EnvironmentVariables {
			env[name] = "dummy-" + strings.ToLower(name)
		}
	}
	cfg, err := config.Parse(exampleConfig, readFile(t, exampleConfig), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("%s does not load with the variables s.yaml sets: %v", exampleConfig, err)
	}
	return cfg
}

func TestExampleConfig(t *testing.T) {
	cfg := parseExampleConfig(t)
	if cfg.CAMS.QPS != config.DefaultQPS || cfg.CAMS.Timeout.D() != config.DefaultTimeout {
		t.Errorf("%s: cams.qps %v and cams.timeout %s differ from the defaults s.yaml's timeout is sized for (%v, %s)",
			exampleConfig, cfg.CAMS.QPS, cfg.CAMS.Timeout.D(), config.DefaultQPS, config.DefaultTimeout)
	}
	if cfg.State.Type == "file" && !strings.HasPrefix(cfg.State.Path, "/tmp/") {
		t.Errorf("%s: state.path %q: on FC only /tmp is writable", exampleConfig, cfg.State.Path)
	}
	if len(cfg.Targets) == 0 {
		t.Errorf("%s has no targets", exampleConfig)
	}
}

// policy is a RAM policy document.
type policy struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Effect    string                    `json:"Effect"`
	Action    stringList                `json:"Action"`
	Resource  stringList                `json:"Resource"`
	Principal map[string]stringList     `json:"Principal"`
	Condition map[string]map[string]any `json:"Condition"`
}

// stringList is a JSON string or array of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

func loadPolicy(t *testing.T, rel string) policy {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readFile(t, rel)))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return p
}

// TestRAMPolicies checks the execution role's policies: version 1, Allow only, actions from an
// allowlist, each service's actions on its own resources (CAMS has no resource-level
// authorization), the OSS listing limited to the prefix.
func TestRAMPolicies(t *testing.T) {
	resources := map[string][]string{
		"cams": {"*"},
		"ots":  {"acs:ots:*:*:instance/<instance>/table/<table>"},
		"oss":  {"acs:oss:*:*:<bucket>/<prefix>*", "acs:oss:*:*:<bucket>"},
		"log":  {"acs:log:*:*:project/<log-project>/logstore/<logstore>"},
	}
	tests := []struct {
		file    string
		allowed []string
		want    []string // actions that must be granted
	}{
		{
			file: rolePolicy,
			allowed: []string{
				"cams:GetWhatsappHealthStatus", "cams:QueryChatappPhoneNumbers", "cams:ListChatappTemplate", "cams:QueryChatappBindWaba",
				"ots:GetRow", "ots:PutRow", "ots:UpdateRow", "ots:DescribeTable",
				"oss:GetObject", "oss:PutObject", "oss:DeleteObject", "oss:ListObjects",
				"log:PostLogStoreLogs",
			},
			want: []string{"cams:GetWhatsappHealthStatus", "log:PostLogStoreLogs"},
		},
		{
			file:    setupPolicy,
			allowed: []string{"ots:CreateTable", "ots:DescribeTable"},
			want:    []string{"ots:CreateTable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := loadPolicy(t, tt.file)
			if p.Version != "1" {
				t.Errorf("Version = %q, want \"1\"", p.Version)
			}
			var granted []string
			for i, st := range p.Statement {
				if st.Effect != "Allow" {
					t.Errorf("statement %d: Effect %q, want Allow only", i, st.Effect)
				}
				if st.Principal != nil {
					t.Errorf("statement %d: a Principal belongs in the trust policy", i)
				}
				if len(st.Action) == 0 || len(st.Resource) == 0 {
					t.Errorf("statement %d: needs Action and Resource", i)
				}
				for _, a := range st.Action {
					if !slices.Contains(tt.allowed, a) {
						t.Errorf("statement %d: action %q is not in the allowlist", i, a)
					}
					service, _, _ := strings.Cut(a, ":")
					for _, r := range st.Resource {
						if !slices.Contains(resources[service], r) {
							t.Errorf("statement %d: %s on %q; %s actions may only name %v", i, a, r, service, resources[service])
						}
					}
					if a == "oss:ListObjects" {
						if diff := cmp.Diff(map[string]map[string]any{"StringLike": {"oss:Prefix": "<prefix>*"}}, st.Condition); diff != "" {
							t.Errorf("statement %d: oss:ListObjects must be limited to the prefix (-want +got):\n%s", i, diff)
						}
					}
					granted = append(granted, a)
				}
			}
			for _, a := range tt.want {
				if !slices.Contains(granted, a) {
					t.Errorf("%s is not granted", a)
				}
			}
		})
	}
}

func TestTrustPolicy(t *testing.T) {
	p := loadPolicy(t, trustPolicy)
	want := policy{Version: "1", Statement: []statement{{
		Effect:    "Allow",
		Action:    stringList{"sts:AssumeRole"},
		Principal: map[string]stringList{"Service": {"fc.aliyuncs.com"}},
	}}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("%s (-want +got):\n%s", trustPolicy, diff)
	}
}

// TestPolicyPlaceholdersDocumented checks that docs/deploy.md explains every <placeholder> of
// the policies.
func TestPolicyPlaceholdersDocumented(t *testing.T) {
	doc := string(readFile(t, deployDoc))
	ph := regexp.MustCompile(`<[a-z][a-z-]*>`)
	for _, f := range []string{rolePolicy, setupPolicy} {
		for _, p := range slices.Compact(slices.Sorted(slices.Values(ph.FindAllString(string(readFile(t, f)), -1)))) {
			if !strings.Contains(doc, "`"+p+"`") {
				t.Errorf("%s uses %s, which %s does not explain (as `%s`)", f, p, deployDoc, p)
			}
		}
	}
}

func TestBuildScriptIsExecutableShell(t *testing.T) {
	path := filepath.Join(repoRoot(t), buildScript)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&0o111 != 0o111 {
		t.Errorf("%s has mode %s, want it executable", buildScript, info.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#!/usr/bin/env bash\n", "\nset -euo pipefail\n"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("%s lacks %q", buildScript, strings.TrimSpace(want))
		}
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("bash -n %s: %v\n%s", buildScript, err, out)
	}
}

func TestBuildScriptModes(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name       string
		env        []string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"list one", nil, []string{"--list", "checker"}, 0, "checker dist/checker/checker dist/checker.zip wahealth.yaml\n", ""},
		{"list elsewhere", []string{"DIST_DIR=" + empty}, []string{"--list", "ondemand"}, 0,
			fmt.Sprintf("ondemand %s/ondemand/ondemand %s/ondemand.zip wahealth.yaml\n", empty, empty), ""},
		{"verify nothing built", []string{"DIST_DIR=" + empty}, []string{"--verify", "checker"}, 1, "", "checker.zip is missing"},
		{"unknown function", nil, []string{"nosuch"}, 2, "", "unknown function nosuch"},
		{"unknown option", nil, []string{"--nosuch"}, 2, "", "unknown option --nosuch"},
		{"missing config", []string{"DIST_DIR=" + empty}, []string{"--config", "nosuch.yaml", "checker"}, 2, "", "nosuch.yaml not found"},
		{"help", nil, []string{"--help"}, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runBuildScript(t, t.TempDir(), buildScriptEnv(tt.env...), tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if tt.wantStdout != "" && stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}
