package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the nodes a document may expand to (aliases included), so that a small
// document cannot make the walk explode. A variable so that tests can lower it.
var maxNodes = 100_000

var (
	durationType = reflect.TypeFor[Duration]()
	configType   = reflect.TypeFor[Config]()
)

// pos is a position in the document.
type pos struct{ line, col int }

func posOf(n *yaml.Node) pos { return pos{n.Line, n.Column} }

func (p pos) less(q pos) bool {
	if p.line != q.line {
		return p.line < q.line
	}
	return p.col < q.col
}

// located is a problem with the position it is sorted by.
type located struct {
	Problem
	at pos
	// after places the problem after everything else at the same position: a missing field
	// is reported at the end of its parent.
	after bool
	seq   int
}

// walker checks a parsed document against the Config type before it is decoded: it reports
// unknown keys, duplicate keys and values of the wrong type (each with its path), expands
// ${VAR} in scalar values, resolves aliases, and builds a clean tree that yaml.v3 decodes
// without error. It also remembers where each path is, so that problems found later can be
// sorted in document order.
type walker struct {
	getenv   func(string) (string, bool)
	problems []located
	// start is where each path's key (or sequence item) is.
	start map[string]pos
	// end is the last position inside each path.
	end map[string]pos
	// set holds the paths that have a non-null value in the document.
	set map[string]bool
	// bad holds the paths whose value was refused; later checks of them (or anything below)
	// would only repeat the problem.
	bad map[string]bool
	// expanded holds the paths whose value came (partly) from the environment, with the
	// references, so that messages can name the variable and never show its value.
	expanded map[string]string
	stack    []string
	nodes    int
}

func newWalker(getenv func(string) (string, bool)) *walker {
	return &walker{
		getenv:   getenv,
		start:    map[string]pos{},
		end:      map[string]pos{},
		set:      map[string]bool{},
		bad:      map[string]bool{},
		expanded: map[string]string{},
	}
}

func (w *walker) add(path string, at pos, format string, args ...any) {
	w.problems = append(w.problems, located{
		Problem: Problem{Path: path, Message: fmt.Sprintf(format, args...)},
		at:      at,
		seq:     len(w.problems),
	})
}

// refuse reports a problem with the value at path and marks the path bad.
func (w *walker) refuse(path string, at pos, format string, args ...any) {
	w.add(path, at, format, args...)
	w.bad[path] = true
}

// touch extends the end of every path being walked to at.
func (w *walker) touch(at pos) {
	for _, p := range w.stack {
		if e, ok := w.end[p]; !ok || e.less(at) {
			w.end[p] = at
		}
	}
}

// value walks n as a value of type t found at path. It returns the clean node to decode, or
// nil when the value is absent (null) or refused.
func (w *walker) value(orig *yaml.Node, t reflect.Type, path string) *yaml.Node {
	at := posOf(orig)
	w.stack = append(w.stack, path)
	defer func() { w.stack = w.stack[:len(w.stack)-1] }()
	w.touch(at)
	if !w.spend(path, at) {
		return nil
	}
	n := deref(orig)
	if n == nil {
		return nil
	}
	switch {
	case t == durationType:
		return w.duration(n, path, at)
	case t.Kind() == reflect.Struct:
		return w.structure(n, t, path, at)
	case t.Kind() == reflect.Slice:
		return w.sequence(n, t, path, at)
	case t.Kind() == reflect.Map:
		return w.dictionary(n, t, path, at)
	default:
		return w.scalar(n, t, path, at)
	}
}

// spend counts one node against maxNodes; once the budget is spent it reports the problem
// (once) and returns false.
func (w *walker) spend(path string, at pos) bool {
	w.nodes++
	if w.nodes == maxNodes+1 {
		w.refuse(path, at, "the document is too large or expands too many aliases")
	}
	return w.nodes <= maxNodes
}

// deref follows aliases; it returns nil for a broken one.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// field is a key of a struct type.
type field struct {
	name string
	typ  reflect.Type
}

// fieldsOf lists the YAML keys of struct type t, as yaml.v3 names them.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			out = append(out, fieldsOf(f.Type)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, field{name, f.Type})
	}
	return out
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, path string, at pos) *yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		w.refuse(path, at, "want a mapping (key: value lines), got %s", describeNode(n))
		return nil
	}
	fields := fieldsOf(t)
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		kat := posOf(n.Content[i])
		w.touch(kat)
		if !w.spend(path, kat) {
			break
		}
		if k == nil || k.Kind != yaml.ScalarNode {
			w.add(path, kat, "keys must be plain names")
			continue
		}
		if k.ShortTag() == "!!merge" {
			w.add(join(path, "<<"), kat, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		name := k.Value
		p := join(path, keyPath(name))
		var f *field
		for j := range fields {
			if fields[j].name == name {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			w.add(p, kat, "%s", unknownKey(name, fields))
			continue
		}
		if line, dup := first[name]; dup {
			w.add(p, kat, "duplicate key (first set on line %d); keep one", line)
			continue
		}
		first[name] = kat.line
		w.start[p] = kat
		if c := w.value(v, f.typ, p); c != nil {
			w.set[p] = true
			out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, c)
		}
	}
	return out
}

func (w *walker) sequence(n *yaml.Node, t reflect.Type, path string, at pos) *yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		w.refuse(path, at, "want a list (items starting with \"- \"), got %s", describeNode(n))
		return nil
	}
	out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: n.Line, Column: n.Column}
	for i, item := range n.Content {
		if w.nodes > maxNodes {
			break
		}
		p := fmt.Sprintf("%s[%d]", path, i)
		w.start[p] = posOf(item)
		c := w.value(item, t.Elem(), p)
		if c == nil {
			// Keep the item so that the indexes of the items after it stay right.
			c = zeroNode(t.Elem())
		}
		out.Content = append(out.Content, c)
	}
	return out
}

// zeroNode returns a node that decodes to the zero value of t.
func zeroNode(t reflect.Type) *yaml.Node {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	case reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str"}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	case reflect.Float32, reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: "0"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t == durationType {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "0s"}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// dictionary walks a map with string keys (labels).
func (w *walker) dictionary(n *yaml.Node, t reflect.Type, path string, at pos) *yaml.Node {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode || t.Key().Kind() != reflect.String {
		w.refuse(path, at, "want a mapping (key: value lines), got %s", describeNode(n))
		return nil
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		kat := posOf(n.Content[i])
		w.touch(kat)
		if !w.spend(path, kat) {
			break
		}
		if k == nil || k.Kind != yaml.ScalarNode {
			w.add(path, kat, "keys must be plain strings")
			continue
		}
		if k.ShortTag() == "!!merge" {
			w.add(join(path, "<<"), kat, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		name := k.Value
		p := join(path, keyPath(name))
		if line, dup := first[name]; dup {
			w.add(p, kat, "duplicate key (first set on line %d); keep one", line)
			continue
		}
		first[name] = kat.line
		w.start[p] = kat
		c := w.value(v, t.Elem(), p)
		if c == nil {
			c = zeroNode(t.Elem())
		}
		out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, c)
	}
	return out
}

// text returns scalar n's value with ${VAR} expanded, and whether it can be used.
func (w *walker) text(n *yaml.Node, path string, at pos) (string, bool) {
	v, refs, problems := expand(n.Value, w.getenv)
	if len(refs) > 0 {
		w.expanded[path] = refs
	}
	for _, p := range problems {
		w.refuse(path, at, "%s", p)
	}
	return v, len(problems) == 0
}

// quoteAt quotes s, the value at path, for a message; a value from the environment is named
// by its references instead.
func (w *walker) quoteAt(path, s string) string {
	if refs, ok := w.expanded[path]; ok {
		return "the value of " + refs
	}
	return quote(s)
}

func (w *walker) scalar(n *yaml.Node, t reflect.Type, path string, at pos) *yaml.Node {
	want := describeType(t)
	if n.Kind != yaml.ScalarNode {
		w.refuse(path, at, "want %s, got %s", want, describeNode(n))
		return nil
	}
	if isNull(n) {
		return nil
	}
	v, ok := w.text(n, path, at)
	if t.Kind() == reflect.String {
		if !ok {
			// Keep the reference text: it is reported already, and an empty value would only
			// add "required" problems elsewhere.
			v = n.Value
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: n.Line, Column: n.Column}
	}
	if !ok {
		return nil
	}
	if v == "" && w.expanded[path] != "" {
		return nil // an empty variable leaves the field unset (its default applies)
	}
	var tags []string
	switch t.Kind() {
	case reflect.Bool:
		tags = []string{"!!bool"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		tags = []string{"!!int"}
	case reflect.Float32, reflect.Float64:
		tags = []string{"!!int", "!!float"}
	default:
		// Not a kind this walker knows: let yaml.v3 decode it as written.
		c := *n
		c.Value = v
		return &c
	}
	probe := &yaml.Node{Kind: yaml.ScalarNode, Value: v, Line: n.Line, Column: n.Column}
	tag := probe.ShortTag()
	probe.Tag = tag
	if !contains(tags, tag) || probe.Decode(reflect.New(t).Interface()) != nil {
		w.refuse(path, at, "want %s, got %s", want, w.quoteAt(path, v))
		return nil
	}
	return probe
}

func (w *walker) duration(n *yaml.Node, path string, at pos) *yaml.Node {
	if n.Kind != yaml.ScalarNode {
		w.refuse(path, at, "want %s, got %s", describeType(durationType), describeNode(n))
		return nil
	}
	if isNull(n) {
		return nil
	}
	v, ok := w.text(n, path, at)
	if !ok {
		return nil
	}
	if v == "" && w.expanded[path] != "" {
		return nil
	}
	var d Duration
	if d.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}) != nil {
		w.refuse(path, at, "want %s, got %s", describeType(durationType), w.quoteAt(path, v))
		return nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v, Line: n.Line, Column: n.Column}
}

// locate places a problem found after decoding: at its path's key when the document has it,
// else at the end of the nearest ancestor that it has.
func (w *walker) locate(p Problem, seq int) located {
	if at, ok := w.start[p.Path]; ok {
		return located{Problem: p, at: at, seq: seq}
	}
	for a := p.Path; a != ""; {
		a = parent(a)
		if at, ok := w.end[a]; ok {
			return located{Problem: p, at: at, after: true, seq: seq}
		}
	}
	return located{Problem: p, at: pos{math.MaxInt, 0}, after: true, seq: seq}
}

// refused reports whether path, or one of its ancestors, had its value refused.
func (w *walker) refused(path string) bool {
	for a := path; ; a = parent(a) {
		if w.bad[a] {
			return true
		}
		if a == "" {
			return false
		}
	}
}

// sortLocated orders problems as their places appear in the document.
func sortLocated(ps []located) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.at != b.at {
			return a.at.less(b.at)
		}
		if a.after != b.after {
			return !a.after
		}
		return a.seq < b.seq
	})
}

// parent returns the path of the field or list that contains path ("" for a top-level key).
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// keyPath writes a key in a path: as is when it is a plain name, else quoted.
func keyPath(k string) string {
	if k != "" && strings.IndexFunc(k, func(r rune) bool {
		return !(r == '_' || r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) < 0 && len(k) <= 64 {
		return k
	}
	return quote(k)
}

// quote quotes s for a message, shortening a long value.
func quote(s string) string {
	const max = 60
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// describeNode names what a node is, for "got ..." in messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return quote(n.Value)
	}
	return "something else"
}

// describeType names what a field wants, for "want ..." in messages.
func describeType(t reflect.Type) string {
	if t == durationType {
		return `a duration like "10s" or "5m"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return "a value"
}

// unknownKey explains an unknown key, suggesting the known key it probably meant.
func unknownKey(name string, fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	if s := suggest(name, names); s != "" {
		return fmt.Sprintf("unknown key (did you mean %q?)", s)
	}
	// A key written one level too high, like "qps" at the top instead of under "cams".
	for _, f := range fields {
		if f.typ.Kind() != reflect.Struct || f.typ == durationType {
			continue
		}
		for _, g := range fieldsOf(f.typ) {
			if normalize(g.name) == normalize(name) {
				return fmt.Sprintf("unknown key (did you mean %q?)", f.name+"."+g.name)
			}
		}
	}
	return "unknown key (known keys here: " + strings.Join(names, ", ") + ")"
}

// suggest returns the candidate closest to s: within an edit distance of 2 ignoring case,
// '_' and '-', or else one containing s or contained in it (at least 3 letters); "" when none
// is close.
func suggest(s string, candidates []string) string {
	n := normalize(s)
	if n == "" || len(n) > 64 {
		return ""
	}
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(n, normalize(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	for _, c := range candidates {
		nc := normalize(c)
		if len(n) >= 3 && strings.Contains(nc, n) || len(nc) >= 3 && strings.Contains(n, nc) {
			return c
		}
	}
	return ""
}

func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// distance is the Levenshtein distance between a and b, in runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
