// Package config is vigil's configuration file (vigil.yaml): sources, bus,
// store, rules, detection tuning, limits, notify routes and destinations,
// logging and the metrics listener.
//
// A configuration is built in layers, each overriding the one before:
// defaults (Defaults), the file (Load, strict: an unknown key is an error
// naming its path and line), the environment (ApplyEnv: VIGIL_STORE_URL
// overrides store.url) and the command line (set by the caller). Validate
// then reports every problem by key.
//
// Secrets never live in the file: a Secret names an environment variable
// (secret_env) or a file (secret_file), and a secret written inline is a
// validation error. Notify destinations name their variables with the
// *_env keys of package notify. Redacted renders the effective
// configuration for `vigil config check`.
package config
