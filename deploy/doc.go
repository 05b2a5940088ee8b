// Package deploy holds what wahealth's Function Compute deployment is sized by, and the tests
// that keep the deployment files honest.
//
// The deployment itself is not Go: s.yaml (Serverless Devs, component fc3) declares the two
// functions, scripts/build.sh builds the code packages it points at, deploy/*.json are the RAM
// policies of the execution role, and docs/deploy.md walks from zero to a running checker. The
// tests of this package parse those files and check them against the code: handlers against
// the binaries build.sh produces, environment variables against what the code reads, the
// timeout against MinTimeout, the RAM policies against an allowlist of actions.
package deploy
