package cams

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
)

// The environment variables Function Compute sets for the function's role, and that users set
// locally.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
)

// Credentials sign CAMS calls: an AccessKey pair, or STS credentials with a security token.
// Printing or logging them shows only whether they are set.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Validate reports a missing half of the key pair, naming the variables to set.
func (c Credentials) Validate() error {
	switch {
	case c.AccessKeyID == "" && c.AccessKeySecret == "":
		return ErrNoCredentials
	case c.AccessKeyID == "":
		return fmt.Errorf("%w: %s is empty", ErrNoCredentials, EnvAccessKeyID)
	case c.AccessKeySecret == "":
		return fmt.Errorf("%w: %s is empty", ErrNoCredentials, EnvAccessKeySecret)
	}
	return nil
}

// String hides the values.
func (c Credentials) String() string {
	if c.AccessKeyID == "" {
		return "credentials(none)"
	}
	if c.SecurityToken != "" {
		return "credentials(sts, [redacted])"
	}
	return "credentials(access key, [redacted])"
}

// LogValue hides the values from slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// GoString hides the values from %#v.
func (c Credentials) GoString() string { return c.String() }

// ErrNoCredentials is matched by errors about missing credentials.
var ErrNoCredentials = errors.New("no alibaba cloud credentials: set " + EnvAccessKeyID + " and " + EnvAccessKeySecret +
	" (and " + EnvSecurityToken + " for STS credentials), or configure a profile with the aliyun CLI")

// CredentialsFromEnv reads the ALIBABA_CLOUD_* variables; when they are absent it falls back to
// the SDK's file-based sources (the aliyun CLI's profile and ~/.alibabacloud/credentials).
// Instance metadata is not probed: on ECS set the variables or a profile. It never makes a
// network call, so a missing credential is an error before any CAMS call.
func CredentialsFromEnv(getenv func(string) (string, bool)) (Credentials, error) {
	get := func(k string) string { v, _ := getenv(k); return v }
	c := Credentials{
		AccessKeyID:     get(EnvAccessKeyID),
		AccessKeySecret: get(EnvAccessKeySecret),
		SecurityToken:   get(EnvSecurityToken),
	}
	if c.AccessKeyID != "" || c.AccessKeySecret != "" {
		return c, c.Validate()
	}
	for _, p := range []credentials.CredentialsProvider{
		credentials.NewCLIProfileCredentialsProviderBuilder().Build(),
		credentials.NewProfileCredentialsProviderBuilder().Build(),
	} {
		cc, err := fileProfile(p)
		if err == nil && cc.AccessKeyID != "" {
			return cc, nil
		}
	}
	return Credentials{}, ErrNoCredentials
}

// fileProfile asks a file-based SDK provider, recovering from its panics.
func fileProfile(p credentials.CredentialsProvider) (c Credentials, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("credential profile: %v", r)
		}
	}()
	cc, err := p.GetCredentials()
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{AccessKeyID: cc.AccessKeyId, AccessKeySecret: cc.AccessKeySecret, SecurityToken: cc.SecurityToken}, nil
}
