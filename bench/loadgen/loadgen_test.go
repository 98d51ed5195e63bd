package main

// The load generator's own correctness: against a small fake ADS server that can
// misbehave on purpose, each self-check must fire when (and only when) its fault
// is present.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

type fakeBehaviour struct {
	skipPushTo  string // node id that never gets change pushes (a stream that stops receiving)
	oddVersion  string // node id whose change push carries a version nobody else has
	dropStreams bool
}

type fakeStream struct {
	nodeID string
	mu     sync.Mutex
	srv    discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer
	nonce  int
	eds    []string
}

type fakeServer struct {
	discovery.UnimplementedAggregatedDiscoveryServiceServer
	b       fakeBehaviour
	mu      sync.Mutex
	streams []*fakeStream
	port    uint32
	version int
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func (f *fakeServer) resources(t int, names []string) []*anypb.Any {
	switch t {
	case typeCDS:
		return []*anypb.Any{mustAny(&cluster.Cluster{Name: "c0"}), mustAny(&cluster.Cluster{Name: "svc-0001.shop:8080"})}
	case typeLDS:
		h := &hcm.HttpConnectionManager{StatPrefix: "x", RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{RouteConfigName: "outbound:15001"}}}
		l := &listener.Listener{Name: "outbound:15001", FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{
			Name: "hcm", ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(h)},
		}}}}}
		return []*anypb.Any{mustAny(l)}
	case typeRDS:
		return []*anypb.Any{mustAny(&route.RouteConfiguration{Name: "outbound:15001"})}
	case typeEDS:
		var out []*anypb.Any
		for _, n := range names {
			port := uint32(9000)
			if n == "svc-0001.shop:8080" {
				port = f.port
			}
			out = append(out, mustAny(&endpoint.ClusterLoadAssignment{ClusterName: n, Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{{
				HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: &core.Address{Address: &core.Address_SocketAddress{
					SocketAddress: &core.SocketAddress{Address: "10.0.0.1", PortSpecifier: &core.SocketAddress_PortValue{PortValue: port}},
				}}}},
			}}}}}))
		}
		return out
	}
	return nil
}

func (s *fakeStream) send(t int, version string, res []*anypb.Any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nonce++
	return s.srv.Send(&discovery.DiscoveryResponse{VersionInfo: version, TypeUrl: typeURLs[t], Nonce: fmt.Sprint(s.nonce), Resources: res})
}

func (f *fakeServer) StreamAggregatedResources(srv discovery.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	st := &fakeStream{srv: srv}
	f.mu.Lock()
	f.streams = append(f.streams, st)
	f.mu.Unlock()
	for {
		req, err := srv.Recv()
		if err != nil {
			return nil
		}
		if req.Node != nil {
			st.nodeID = req.Node.Id
		}
		t := typeIndex(req.TypeUrl)
		if req.ResponseNonce != "" && req.VersionInfo != "" {
			// An ACK; answer only when the subscription changed (EDS/RDS names).
			if t != typeEDS || strings.Join(req.ResourceNames, ",") == strings.Join(st.eds, ",") {
				continue
			}
		}
		if t == typeEDS {
			st.eds = req.ResourceNames
		}
		f.mu.Lock()
		version := fmt.Sprintf("v%d", f.version)
		res := f.resources(t, req.ResourceNames)
		f.mu.Unlock()
		if err := st.send(t, version, res); err != nil {
			return err
		}
	}
}

// change moves svc-0001's endpoint and pushes EDS to every stream (unless told otherwise).
func (f *fakeServer) change(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Port uint32 `json:"port"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	f.mu.Lock()
	f.port = req.Port
	f.version++
	streams := append([]*fakeStream(nil), f.streams...)
	version := fmt.Sprintf("v%d", f.version)
	f.mu.Unlock()
	for _, st := range streams {
		if st.nodeID == f.b.skipPushTo {
			continue
		}
		v := version
		if st.nodeID == f.b.oddVersion {
			v = "v-unknown"
		}
		f.mu.Lock()
		res := f.resources(typeEDS, []string{"svc-0001.shop:8080"})
		f.mu.Unlock()
		_ = st.send(typeEDS, v, res)
	}
	w.WriteHeader(200)
}

func startFake(t *testing.T, b fakeBehaviour) (xds string, control string) {
	t.Helper()
	f := &fakeServer{b: b, port: 9000}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(gs, f)
	go func() { _ = gs.Serve(gl) }()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/change", f.change)
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() {
		_ = hs.Close()
		gs.Stop()
	})
	return gl.Addr().String(), "http://" + hl.Addr().String()
}

func testConfig(t *testing.T, b fakeBehaviour, streams int) Config {
	xds, control := startFake(t, b)
	cfg, err := parseFlags([]string{"-target=" + xds, "-control=" + control, fmt.Sprintf("-streams=%d", streams),
		"-expect-clusters=2", "-services=2", "-endpoints=1", "-changes=1", "-sync-timeout=10s", "-change-timeout=1500ms", "-quiet=100ms", "-max-duration=60s"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	r, _ := Run(cfg)
	if r == nil {
		t.Fatal("no report")
	}
	if r.Sync.Synced != cfg.Streams {
		t.Fatalf("synced %d/%d: %v", r.Sync.Synced, cfg.Streams, r.Checks.Errors)
	}
	return r
}

func TestHealthyServerPassesEveryCheck(t *testing.T) {
	r := run(t, testConfig(t, fakeBehaviour{}, 9))
	if !r.Checks.OK {
		t.Fatalf("checks failed against a healthy server: %v", r.Checks.Errors)
	}
	if r.Change == nil || r.Change.Converged != 9 {
		t.Fatalf("change did not converge on every stream: %+v", r.Change)
	}
}

func TestDetectsMissingAck(t *testing.T) {
	cfg := testConfig(t, fakeBehaviour{}, 9)
	cfg.Faults.DropAckStream = 2
	r := run(t, cfg)
	if r.Checks.OK || r.Checks.MissingAck == 0 {
		t.Fatalf("a dropped ACK was not detected: %+v", r.Checks)
	}
}

func TestDetectsWrongVersionInAck(t *testing.T) {
	cfg := testConfig(t, fakeBehaviour{}, 9)
	cfg.Faults.CorruptStream = 1
	r := run(t, cfg)
	if r.Checks.OK || r.Checks.WrongVersion == 0 {
		t.Fatalf("an ACK with the wrong version was not detected: %+v", r.Checks)
	}
}

func TestDetectsUnknownVersionFromServer(t *testing.T) {
	r := run(t, testConfig(t, fakeBehaviour{oddVersion: "sidecar-00003"}, 9))
	if r.Checks.OK || r.Checks.UnknownVersion == 0 {
		t.Fatalf("a stream left on an unknown version was not detected: %+v", r.Checks)
	}
	if !strings.Contains(strings.Join(r.Checks.Errors, "\n"), "stream 3 EDS") {
		t.Fatalf("the wrong stream was blamed: %v", r.Checks.Errors)
	}
}

func TestDetectsStreamThatStoppedReceiving(t *testing.T) {
	r := run(t, testConfig(t, fakeBehaviour{skipPushTo: "sidecar-00004"}, 9))
	if r.Checks.OK || r.Checks.Stalled != 1 {
		t.Fatalf("a stream the server stopped pushing to was not detected: %+v", r.Checks)
	}
	if r.Change.Converged != 8 {
		t.Fatalf("converged %d, want 8", r.Change.Converged)
	}
}

func TestDetectsClientThatStoppedProcessing(t *testing.T) {
	cfg := testConfig(t, fakeBehaviour{}, 9)
	cfg.Faults.StopStream = 0
	r := run(t, cfg)
	if r.Checks.OK || r.Checks.Stalled == 0 {
		t.Fatalf("a stopped stream was not detected: %+v", r.Checks)
	}
}

func TestResourceNameScan(t *testing.T) {
	b, _ := proto.Marshal(&endpoint.ClusterLoadAssignment{ClusterName: "a.b:1", Endpoints: []*endpoint.LocalityLbEndpoints{{Priority: 1}}})
	if got := resourceName(b); got != "a.b:1" {
		t.Fatalf("resourceName = %q", got)
	}
}

// A reconnecting stream keeps what it held: after a reconnect, content that differs from
// the held content counts as a change received (a change made while it was away still
// reaches it), equal content does not, and the resync completes the stream again.
func TestReconnectKeepsHeldEndpointsForChangeDetection(t *testing.T) {
	g := &generator{cfg: Config{ExpectClusters: 1}, names: newInterner(), lists: map[string][]string{}}
	s := &stream{g: g, rdsHave: map[string]bool{}}
	cla := func(name string, port uint32) *anypb.Any {
		return mustAny(&endpoint.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: &core.Address{Address: &core.Address_SocketAddress{
				SocketAddress: &core.SocketAddress{Address: "10.0.0.1", PortSpecifier: &core.SocketAddress_PortValue{PortValue: port}},
			}}}},
		}}}}})
	}
	if changed := s.applyEDS([]*anyRes{cla("a", 1), cla("b", 1)}, nil); len(changed) != 0 {
		t.Fatalf("first receipt counted as a change: %v", changed)
	}
	s.synced = 1
	s.resetForReconnect()
	if !s.resyncing || s.edsN != 0 {
		t.Fatalf("after reset: resyncing %v, edsN %d", s.resyncing, s.edsN)
	}
	changed := s.applyEDS([]*anyRes{cla("a", 2), cla("b", 1)}, nil)
	if len(changed) != 1 || g.names.name(changed[0]) != "a" {
		t.Fatalf("resync: changed %v, want only a", changed)
	}
	// Consumed: the next receipt of a is compared with what the resync brought.
	if again := s.applyEDS([]*anyRes{cla("a", 2)}, nil); len(again) != 0 {
		t.Fatalf("unchanged content counted again: %v", again)
	}
	// A change received whose ACK never went out (the connection dropped first) is undone,
	// so the resync after the reconnect still counts it.
	if got := s.applyEDS([]*anyRes{cla("b", 3)}, nil); len(got) != 1 {
		t.Fatalf("b changed: %v", got)
	}
	s.unobserved([]int32{g.names.id("b")})
	s.resetForReconnect()
	if got := s.applyEDS([]*anyRes{cla("a", 2), cla("b", 3)}, nil); len(got) != 1 || g.names.name(got[0]) != "b" {
		t.Fatalf("resync after an unsent ACK: changed %v, want only b", got)
	}
}
