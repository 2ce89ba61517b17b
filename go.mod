module github.com/vigilsec/vigil

go 1.26

require (
	github.com/expr-lang/expr v1.17.8 // indirect
	github.com/goccy/go-json v0.12.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
