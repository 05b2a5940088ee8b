package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxProblems bounds the problems a ValidationError lists; the rest are counted.
const maxProblems = 50

// exampleHint tells where a working configuration can be found.
const exampleHint = "see the example in README.md (pkg/config/testdata/example.yaml)"

// Load reads the configuration: from path when non-empty, else from the environment variable
// WAHEALTH_CONFIG, which holds either a file path or the YAML document itself (FC passes
// configuration through environment variables; the value is taken as YAML when it contains
// a newline or a ':' and no file of that name exists). getenv is the environment lookup
// (os.LookupEnv in production, which is used when getenv is nil; tests inject a map).
func Load(path string, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if path != "" {
		return loadFile(path, "", getenv)
	}
	v, ok := getenv(EnvConfig)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, errors.New("no configuration: pass -config FILE or set " + EnvConfig)
	}
	if fi, err := os.Stat(v); err == nil && !fi.IsDir() {
		return loadFile(v, " named by "+EnvConfig, getenv)
	}
	if strings.ContainsAny(v, "\n:") {
		return Parse("from "+EnvConfig, []byte(v), getenv)
	}
	return loadFile(v, " named by "+EnvConfig, getenv)
}

func loadFile(path, how string, getenv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration file%s: %w", how, err)
	}
	return Parse(path, data, getenv)
}

// Parse parses a YAML document (source names it in errors), expands ${VAR} references in its
// values from getenv (os.LookupEnv when nil), applies defaults and validates it. Every problem
// is reported at once, in document order, as a *ValidationError.
//
// Expansion happens on the parsed values, so a variable's value is never read as YAML: a
// secret may contain any character. ${NAME} is the variable's value, ${NAME:-default} the
// default when the variable is unset or empty, "$${" a literal "${"; any other "$" stays as
// is. A variable that is set to an empty string leaves a number or duration at its default.
// Messages name variables and never show their values.
func Parse(source string, data []byte, getenv func(string) (string, bool)) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	fail := func(msg string) (*Config, error) {
		return nil, &ValidationError{Source: source, Problems: []Problem{{Message: msg}}}
	}
	root, msg := document(data)
	if msg != "" {
		return fail(msg)
	}
	switch {
	case root == nil || isNull(root):
		return fail("the configuration is empty; " + exampleHint)
	case root.Kind != yaml.MappingNode:
		return fail("the configuration must be a mapping of keys to values (like \"custSpaceId: ...\"), got " +
			describeNode(root) + "; " + exampleHint)
	}

	w := newWalker(getenv)
	clean := w.value(root, configType, "")
	var c Config
	if clean != nil {
		if err := clean.Decode(&c); err != nil {
			// The walk refuses what yaml.v3 cannot decode, so this is not expected; the
			// message of yaml.v3 may quote a value, so it is not repeated.
			w.refuse("", posOf(root), "cannot decode the configuration; check the types of its values")
		}
	}

	v := validator{explicit: w.set, expanded: w.expanded}
	v.config(&c)
	all := w.problems
	for _, p := range v.problems {
		if !w.refused(p.Path) {
			all = append(all, w.locate(p, len(all)))
		}
	}
	if len(all) == 0 {
		return &c, nil
	}
	sortLocated(all)
	problems := make([]Problem, 0, min(len(all), maxProblems+1))
	for _, p := range all[:min(len(all), maxProblems)] {
		problems = append(problems, p.Problem)
	}
	if len(all) > maxProblems {
		problems = append(problems, Problem{Message: fmt.Sprintf("and %d more problems", len(all)-maxProblems)})
	}
	return nil, &ValidationError{Source: source, Problems: problems}
}

// document parses data as one YAML document and returns its root node (nil when there is
// none), or a message saying why it cannot.
func document(data []byte) (root *yaml.Node, msg string) {
	defer func() {
		// yaml.v3 is not expected to panic, but a configuration must never crash the program.
		if r := recover(); r != nil {
			root, msg = nil, "invalid YAML: the parser failed"
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, ""
		}
		return nil, yamlMessage(err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		return nil, yamlMessage(err)
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		return nil, "only one YAML document is allowed; remove the second one (after \"---\")"
	}
	if len(doc.Content) == 0 {
		return nil, ""
	}
	return doc.Content[0], ""
}

func yamlMessage(err error) string {
	return "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")
}
