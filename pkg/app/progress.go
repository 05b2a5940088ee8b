package app

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// isTerminal reports whether w is a terminal (a character device), where a progress bar helps;
// logs, pipes and Function Compute get none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progressBar draws "checking [#####-----] 120/500" on one line of w, at most ten times a
// second, and clears it when done.
type progressBar struct {
	mu   sync.Mutex
	w    io.Writer
	last time.Time
	now  func() time.Time
}

// update is Monitor.Progress.
func (p *progressBar) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total == 0 {
		return
	}
	if done < total && p.now().Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = p.now()
	const width = 30
	filled := done * width / total
	fmt.Fprintf(p.w, "\rchecking [%s%s] %d/%d targets", strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, total)
	if done == total {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
