// Command gcp-server is the benchmark peer: an xDS server on go-control-plane v0.14
// built the way Contour builds one — a SnapshotCache for LDS/CDS/RDS and a
// LinearCache for EDS — fed the very resources meshcp serves for the same workload
// (`meshcp translate` output, one file per zone, loaded with protojson). meshcp
// gives proxies in different zones different ClusterLoadAssignments (failover
// priorities), so there is one LinearCache per zone, chosen by the node's locality
// through a MuxCache; LDS/CDS/RDS are the same for every proxy (one snapshot under
// a constant node hash, as Contour does).
//
// A local control endpoint applies an endpoint change: POST /change
// {"service","namespace","endpoint","port"} moves that endpoint to a new port in
// every zone's ClusterLoadAssignment and updates the LinearCaches.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// zoneFile is what the driver writes per zone: `meshcp translate` YAML as JSON.
type zoneFile struct {
	Zone      string            `json:"zone"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
}

// workloadFile lists each service's endpoints in model order, so a change names
// an endpoint by index as it does for meshcp.
type workloadFile struct {
	Services map[string][]struct {
		Address string `json:"address"`
		Port    uint32 `json:"port"`
	} `json:"services"` // key: namespace/name
	Port int `json:"port"`
}

type constHash struct{}

func (constHash) ID(*core.Node) string { return "all" }

type peer struct {
	mu       sync.Mutex
	linear   map[string]*cachev3.LinearCache // zone → EDS cache
	clas     map[string]map[string]*endpoint.ClusterLoadAssignment
	workload workloadFile
	ports    map[string]uint32 // "ns/name#index" → current port
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[gcp-server %s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func unmarshalAll[T proto.Message](raw []json.RawMessage, mk func() T) ([]types.Resource, error) {
	out := make([]types.Resource, 0, len(raw))
	for i, r := range raw {
		m := mk()
		if err := protojson.Unmarshal(r, m); err != nil {
			return nil, fmt.Errorf("resource %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func main() {
	dir := flag.String("resources", "", "directory with zone-*.json and workload.json (written by the bench driver)")
	xdsAddr := flag.String("xds-address", "127.0.0.1:0", "xDS listen address (loopback)")
	controlAddr := flag.String("control-address", "127.0.0.1:0", "control endpoint listen address (loopback)")
	maxLife := flag.Duration("max-duration", 30*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	for _, a := range []string{*xdsAddr, *controlAddr} {
		if !strings.HasPrefix(a, "127.") && !strings.HasPrefix(a, "localhost:") {
			fmt.Fprintln(os.Stderr, "listen addresses must be on loopback")
			os.Exit(2)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *maxLife)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	p := &peer{linear: map[string]*cachev3.LinearCache{}, clas: map[string]map[string]*endpoint.ClusterLoadAssignment{}, ports: map[string]uint32{}}
	wb, err := os.ReadFile(filepath.Join(*dir, "workload.json"))
	if err != nil {
		fatal(err)
	}
	if err := json.Unmarshal(wb, &p.workload); err != nil {
		fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(*dir, "zone-*.json"))
	sort.Strings(files)
	if len(files) == 0 {
		fatal(fmt.Errorf("no zone-*.json in %s", *dir))
	}
	snapshots := cachev3.NewSnapshotCache(true, constHash{}, nil)
	mux := &cachev3.MuxCache{Caches: map[string]cachev3.Cache{"config": snapshots}}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fatal(err)
		}
		var z zoneFile
		if err := json.Unmarshal(b, &z); err != nil {
			fatal(fmt.Errorf("%s: %w", f, err))
		}
		if i == 0 {
			// LDS/CDS/RDS do not depend on the zone: one snapshot for every proxy.
			ls, err := unmarshalAll(z.Listeners, func() *listener.Listener { return &listener.Listener{} })
			if err != nil {
				fatal(fmt.Errorf("listeners: %w", err))
			}
			rs, err := unmarshalAll(z.Routes, func() *route.RouteConfiguration { return &route.RouteConfiguration{} })
			if err != nil {
				fatal(fmt.Errorf("routes: %w", err))
			}
			cs, err := unmarshalAll(z.Clusters, func() *cluster.Cluster { return &cluster.Cluster{} })
			if err != nil {
				fatal(fmt.Errorf("clusters: %w", err))
			}
			snap, err := cachev3.NewSnapshot("1", map[resource.Type][]types.Resource{resource.ListenerType: ls, resource.RouteType: rs, resource.ClusterType: cs})
			if err != nil {
				fatal(err)
			}
			if err := snapshots.SetSnapshot(ctx, "all", snap); err != nil {
				fatal(err)
			}
			logf("snapshot: %d listeners, %d route configurations, %d clusters", len(ls), len(rs), len(cs))
		}
		es, err := unmarshalAll(z.Endpoints, func() *endpoint.ClusterLoadAssignment { return &endpoint.ClusterLoadAssignment{} })
		if err != nil {
			fatal(fmt.Errorf("endpoints: %w", err))
		}
		initial := map[string]types.Resource{}
		byName := map[string]*endpoint.ClusterLoadAssignment{}
		for _, e := range es {
			cla := e.(*endpoint.ClusterLoadAssignment)
			initial[cla.ClusterName] = cla
			byName[cla.ClusterName] = cla
		}
		p.clas[z.Zone] = byName
		p.linear[z.Zone] = cachev3.NewLinearCache(resource.EndpointType, cachev3.WithInitialResources(initial), cachev3.WithVersionPrefix(z.Zone+"-"))
		mux.Caches["eds|"+z.Zone] = p.linear[z.Zone]
		logf("zone %s: %d cluster load assignments", z.Zone, len(es))
	}
	mux.Classify = func(r *cachev3.Request) string {
		if r.GetTypeUrl() == resource.EndpointType {
			return "eds|" + r.GetNode().GetLocality().GetZone()
		}
		return "config"
	}
	mux.ClassifyDelta = func(r *cachev3.DeltaRequest) string {
		if r.GetTypeUrl() == resource.EndpointType {
			return "eds|" + r.GetNode().GetLocality().GetZone()
		}
		return "config"
	}

	srv := serverv3.NewServer(ctx, mux, serverv3.CallbackFuncs{})
	grpcServer := grpc.NewServer(
		grpc.MaxConcurrentStreams(1<<20),
		grpc.MaxRecvMsgSize(64<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(grpcServer, srv)
	xl, err := net.Listen("tcp", *xdsAddr)
	if err != nil {
		fatal(err)
	}
	cl, err := net.Listen("tcp", *controlAddr)
	if err != nil {
		fatal(err)
	}
	go func() { _ = grpcServer.Serve(xl) }()
	httpMux := http.NewServeMux()
	httpMux.HandleFunc("/change", p.handleChange)
	httpMux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	hs := &http.Server{Handler: httpMux}
	go func() { _ = hs.Serve(cl) }()
	fmt.Printf("READY xds=%d control=%d pid=%d\n", xl.Addr().(*net.TCPAddr).Port, cl.Addr().(*net.TCPAddr).Port, os.Getpid())
	<-ctx.Done()
	_ = hs.Close()
	grpcServer.Stop()
}

type changeRequest struct {
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	Endpoint  int    `json:"endpoint"`
	Port      uint32 `json:"port"`
}

func (p *peer) handleChange(w http.ResponseWriter, r *http.Request) {
	var req changeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	key := req.Namespace + "/" + req.Service
	eps, ok := p.workload.Services[key]
	if !ok || req.Endpoint < 0 || req.Endpoint >= len(eps) {
		http.Error(w, "no such service endpoint", 404)
		return
	}
	clusterName := fmt.Sprintf("%s.%s:%d", req.Service, req.Namespace, p.workload.Port)
	p.mu.Lock()
	defer p.mu.Unlock()
	pk := fmt.Sprintf("%s#%d", key, req.Endpoint)
	oldPort, ok := p.ports[pk]
	if !ok {
		oldPort = eps[req.Endpoint].Port
	}
	address := eps[req.Endpoint].Address
	for zone, clas := range p.clas {
		old := clas[clusterName]
		if old == nil {
			continue
		}
		next := proto.Clone(old).(*endpoint.ClusterLoadAssignment)
		found := false
		for _, le := range next.Endpoints {
			for _, lb := range le.LbEndpoints {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				if sa != nil && sa.Address == address && sa.GetPortValue() == oldPort {
					sa.PortSpecifier = &core.SocketAddress_PortValue{PortValue: req.Port}
					found = true
				}
			}
		}
		if !found {
			http.Error(w, fmt.Sprintf("endpoint %s:%d not in %s (zone %s)", address, oldPort, clusterName, zone), 409)
			return
		}
		clas[clusterName] = next
		if err := p.linear[zone].UpdateResource(clusterName, next); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	p.ports[pk] = req.Port
	w.Header().Set("content-type", "application/json")
	_, _ = fmt.Fprintf(w, `{"clusters":[%q]}`, clusterName)
}

func fatal(err error) {
	logf("fatal: %v", err)
	os.Exit(1)
}
