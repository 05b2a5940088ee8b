// Package templates embeds wahealth's alert message templates: Go text/template files, one set
// per channel, named <channel>.tmpl. Users override them with a directory of files of the same
// names (templatesDir) or a per-notifier template path.
package templates

import "embed"

// FS holds the built-in templates.
//
//go:embed *.tmpl
var FS embed.FS
