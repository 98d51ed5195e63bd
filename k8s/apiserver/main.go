//go:build ignore

// Command kube-apiserver is a test kube-apiserver for meshcp's integration
// tests: the upstream kube-apiserver, linked from k8s.io/kubernetes as a
// library. It is the same main as upstream's cmd/kube-apiserver.
//
// It is not part of any Go module in this repository: the "ignore" build
// constraint keeps `go build ./...`, `go vet ./...` and `go mod tidy` of any
// enclosing module away from it. k8s/scripts/build-apiserver.sh copies it
// (without that constraint) next to a go.mod rendered from go.mod.tmpl and
// builds it there.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
