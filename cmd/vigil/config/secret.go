package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret is where a secret comes from: an environment variable or a file.
// It never holds the secret itself; a secret written inline in the file is
// decoded (so its line can be reported) and rejected by Validate.
type Secret struct {
	// Env names the environment variable holding the secret.
	Env string `yaml:"secret_env,omitempty"`
	// File is the path of a file holding the secret (e.g. a mounted
	// Kubernetes secret); a trailing newline is removed.
	File string `yaml:"secret_file,omitempty"`

	inlineLine int // line of an inline secret, 0 when none
}

// UnmarshalYAML accepts a mapping with secret_env or secret_file, and
// notes an inline scalar so that Validate can reject it.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			s.inlineLine = n.Line
		}
		return nil
	case yaml.MappingNode:
	default:
		return fmt.Errorf("line %d: a secret is a mapping with secret_env or secret_file", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s must be a string", v.Line, k.Value)
		}
		switch k.Value {
		case "secret_env":
			s.Env = v.Value
		case "secret_file":
			s.File = v.Value
		default:
			return fmt.Errorf("line %d: field %s not found in a secret (want secret_env or secret_file)", k.Line, k.Value)
		}
	}
	return nil
}

// IsZero reports whether no secret is configured (an inline one counts as
// configured, so that it is reported).
func (s Secret) IsZero() bool { return s.Env == "" && s.File == "" && s.inlineLine == 0 }

// String names where the secret comes from, never its value.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "env:" + s.Env
	case s.File != "":
		return "file:" + s.File
	}
	return ""
}

// LogValue logs where the secret comes from, never its value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Value reads the secret: the variable's value, or the file's content
// without a trailing newline. An unset or empty variable, an unreadable or
// empty file are errors.
func (s Secret) Value(getenv func(string) string) (string, error) {
	switch {
	case s.Env != "":
		v := getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		raw, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(raw), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.File)
		}
		return v, nil
	}
	return "", errors.New("no secret configured")
}

func (s Secret) validate(key string) []error {
	var errs []error
	if s.inlineLine > 0 {
		errs = append(errs, fmt.Errorf("%s (line %d): inline secrets are not allowed; give secret_env: VARIABLE or secret_file: PATH", key, s.inlineLine))
	}
	if s.Env != "" && s.File != "" {
		errs = append(errs, fmt.Errorf("%s: give secret_env or secret_file, not both", key))
	}
	return errs
}
