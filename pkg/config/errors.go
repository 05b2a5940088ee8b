package config

import "strings"

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Path locates the field, like "targets[2].language"; it is empty for the document as a whole.
	Path string
	// Message says what is wrong and how to fix it.
	Message string
}

// String returns "path: message", or the message alone when the problem has no path.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError reports every problem found in a configuration, in document order.
type ValidationError struct {
	// Source names the configuration: a file path, or "from WAHEALTH_CONFIG".
	Source string
	// Problems lists what is wrong, at least one.
	Problems []Problem
}

// Error returns "invalid configuration SOURCE:" followed by one indented line per problem.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration")
	if e.Source != "" {
		b.WriteString(" ")
		b.WriteString(e.Source)
	}
	b.WriteString(":")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}
