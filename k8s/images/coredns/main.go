// CoreDNS with only the plugins the cluster's Corefile uses (k8s/scripts/cluster.sh):
// the released main (github.com/coredns/coredns) compiles in all ~60 plugins and
// their cloud SDKs, three times the build. This is CoreDNS's documented way to
// choose plugins: its coremain plus the plugin packages, each registering itself.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order plugins run in stays CoreDNS's own (dnsserver.Directives, from its
// plugin.cfg); directives of plugins not compiled in are simply never used.
func main() { coremain.Run() }
