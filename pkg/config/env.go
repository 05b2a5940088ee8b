package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s with values from getenv. "$${" stands for a
// literal "${"; any other "$" is kept as is. A variable that is set but empty takes the default,
// as in the shell. It returns the result, the references it expanded (for messages, which
// name variables and never show their values) and the problems found: an unset variable
// without a default, a malformed reference.
func expand(s string, getenv func(string) (string, bool)) (string, string, []string) {
	if !strings.Contains(s, "$") {
		return s, "", nil
	}
	var b strings.Builder
	var refs []string
	var problems []string
	for i := 0; i < len(s); {
		switch {
		case s[i] != '$':
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			b.WriteString(s[i : i+j])
			i += j
		case strings.HasPrefix(s[i:], "$${"):
			b.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, `unterminated "${" (write "$${" for a literal "${")`)
				b.WriteString(s[i:])
				i = len(s)
				break
			}
			body := s[i+2 : i+2+end]
			i += 2 + end + 1
			name, def, hasDefault := strings.Cut(body, ":-")
			if !validName(name) {
				problems = append(problems, fmt.Sprintf(
					"invalid reference %s: write ${NAME} or ${NAME:-default}, NAME being letters, digits and _ (write $${ for a literal ${)",
					quote("${"+body+"}")))
				continue
			}
			refs = append(refs, "${"+name+"}")
			v, ok := getenv(name)
			switch {
			case hasDefault && v == "":
				v = def
			case !ok:
				problems = append(problems, fmt.Sprintf("environment variable %s is not set", name))
			}
			b.WriteString(v)
		default:
			b.WriteByte('$')
			i++
		}
	}
	return b.String(), strings.Join(refs, ", "), problems
}

// validName reports whether name is an environment variable name: letters, digits and '_',
// not starting with a digit.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
