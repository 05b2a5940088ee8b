// Package examples embeds the example configurations and simulator scenarios shipped with
// wahealth, so that the demo runs from a single command on a fresh clone.
package examples

import _ "embed"

// DemoConfig is examples/demo/config.yaml.
//
//go:embed demo/config.yaml
var DemoConfig []byte

// DemoScenario is examples/demo/scenario.yaml.
//
//go:embed demo/scenario.yaml
var DemoScenario []byte

// DemoCycles is the number of steps in the demo scenario: one cycle each.
const DemoCycles = 5
