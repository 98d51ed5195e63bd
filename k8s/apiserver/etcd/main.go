//go:build ignore

// Command etcd is the etcd server for meshcp's test kube-apiserver: upstream
// etcd's main, linked from go.etcd.io/etcd/server/v3 at the version that
// k8s.io/kubernetes itself requires. See ../main.go for why it carries the
// "ignore" build constraint; k8s/scripts/build-apiserver.sh builds it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
