//go:build !unix

package main

import "os"

// maxRSS returns 0: this platform's process usage carries no peak resident set size.
func maxRSS(*os.ProcessState) int64 { return 0 }
