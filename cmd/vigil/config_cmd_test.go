package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigCheck runs vigil config check on good and bad files.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, content)
		return path
	}
	good := write("good.yaml", "store: {url: 'clickhouse://vigil@ch:9000/vigil', password: {secret_env: VIGIL_TEST_CH_PW}}\nlog: {format: json}\n")
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		wantOut []string
		wantErr []string
	}{
		{"defaults", nil, nil, 0, []string{"url: duckdb://./vigil-data/vigil.duckdb", "format: text"}, nil},
		{"file, secret set", map[string]string{"VIGIL_TEST_CH_PW": "pw"}, []string{"--config", good}, 0,
			[]string{"secret_env: VIGIL_TEST_CH_PW", "format: json"}, nil},
		{"secret missing", nil, []string{"--config", good}, 1, nil, []string{"store.password: environment variable VIGIL_TEST_CH_PW is not set"}},
		{"env and flag override the file", map[string]string{"VIGIL_TEST_CH_PW": "pw", "VIGIL_LOG_LEVEL": "debug"},
			[]string{"--config", good, "--log-format", "text"}, 0,
			[]string{"overridden by the environment: VIGIL_LOG_LEVEL", "level: debug", "format: text"}, nil},
		{"unknown key", nil, []string{"--config", write("typo.yaml", "stor: {url: x}\n")}, 1, nil,
			[]string{`line 1: stor: unknown key "stor"`}},
		{"inline secret", nil, []string{"--config", write("inline.yaml", "bus:\n  kafka:\n    sasl: {username: u, password: hunter2}\n")}, 1, nil,
			[]string{"bus.kafka.sasl.password (line 3): inline secrets are not allowed"}},
		{"broken rules", nil, []string{"--rules", write("bad-rule.yaml", "id: x\n")}, 1, nil, []string{"rules.paths: the rules do not load"}},
		{"bad env value", map[string]string{"VIGIL_SHUTDOWN_TIMEOUT": "soon"}, nil, 1, nil, []string{"VIGIL_SHUTDOWN_TIMEOUT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errw := vigil(t, "", append([]string{"config", "check"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errw)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errw, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errw)
				}
			}
			if strings.Contains(out+errw, "hunter2") {
				t.Error("an inline secret was printed")
			}
		})
	}
}
