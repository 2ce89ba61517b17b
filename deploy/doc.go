// Package deploy holds vigil's deployment files — the Dockerfile,
// docker-compose.yml (Kafka in KRaft mode, ClickHouse, the schema migration
// and each role), the Kubernetes manifests under k8s/ (kustomize), the
// Grafana dashboards under grafana/ and the example vigil.yaml — and the
// tests that validate them without running them. README.md is the guide.
package deploy
