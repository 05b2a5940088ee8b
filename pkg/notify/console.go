package notify

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/template"
)

// Console writes alerts as text to a writer (the terminal, or the log in FC).
type Console struct {
	mu  sync.Mutex
	w   io.Writer
	tpl *template.Template
}

var _ Notifier = (*Console)(nil)

// NewConsole returns a console notifier rendering with tpl (LoadTemplate("console", ...)).
func NewConsole(w io.Writer, tpl *template.Template) *Console {
	return &Console{w: w, tpl: tpl}
}

// Notify renders m and writes it.
func (c *Console) Notify(_ context.Context, m *Message) error {
	text, err := Render(c.tpl, m)
	if err != nil {
		return &PermanentError{Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintln(c.w, text); err != nil {
		return fmt.Errorf("write console alert: %w", err)
	}
	return nil
}
