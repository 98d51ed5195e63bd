package main

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	typeCDS = iota
	typeEDS
	typeLDS
	typeRDS
	numTypes
)

var typeURLs = [numTypes]string{
	"type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
	"type.googleapis.com/envoy.config.listener.v3.Listener",
	"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
}

var typeNames = [numTypes]string{"CDS", "EDS", "LDS", "RDS"}

func typeIndex(url string) int {
	for i, u := range typeURLs {
		if u == url {
			return i
		}
	}
	return -1
}

func nowNanos() int64 { return time.Now().UnixNano() }

// interner maps resource names to small integers shared by every stream, so
// per-stream state is a slice indexed by name, not a map (10,000 streams × 1,000
// clusters would otherwise cost gigabytes).
type interner struct {
	mu    sync.RWMutex
	ids   map[string]int32
	names []string
}

func newInterner() *interner { return &interner{ids: map[string]int32{}} }

func (in *interner) id(name string) int32 {
	in.mu.RLock()
	id, ok := in.ids[name]
	in.mu.RUnlock()
	if ok {
		return id
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if id, ok := in.ids[name]; ok {
		return id
	}
	id = int32(len(in.names))
	in.names = append(in.names, name)
	in.ids[name] = id
	return id
}

func (in *interner) name(id int32) string {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return in.names[id]
}

var hashSeed = maphash.MakeSeed()

func contentHash(b []byte) uint64 {
	h := maphash.Bytes(hashSeed, b)
	if h == 0 {
		h = 1 // 0 means "not held"
	}
	return h
}

// typeState is what one stream knows about one resource type.
type typeState struct {
	responses      int
	acks           int
	version        string // last version_info / system_version_info received
	nonce          string // last nonce received
	ackedVersion   string
	ackedNonce     string
	firstRecv      int64
	lastRecv       int64
	lastAck        int64
	requested      bool
	wrongVersion   int
	lastErr        string
	resourcesTotal int
}

// dropsAck says whether the planted fault drops this ACK, and remembers that it did.
func (s *stream) dropsAck(t int) bool {
	if !s.g.fault.dropAck(s, t) {
		return false
	}
	s.mu.Lock()
	s.ackDropped = true
	s.mu.Unlock()
	return true
}

// received records a response of this type arriving at recv (held under the stream's mu).
func (st *typeState) received(recv int64, version, nonce string) {
	st.responses++
	if st.firstRecv == 0 {
		st.firstRecv = recv
	}
	st.lastRecv = recv
	st.version, st.nonce = version, nonce
}

// slip counts a protocol slip on this type; the last one is shown in the report.
func (st *typeState) slip(why string) {
	st.wrongVersion++
	st.lastErr = why
}

// stream is one simulated Envoy.
type stream struct {
	idx     int
	nodeID  string
	zone    string
	g       *generator
	started int64
	synced  int64 // full initial sync: all four types ACKed with complete contents
	ended   atomic.Pointer[string]
	types   [numTypes]typeState
	mu      sync.Mutex // guards the fields read by the reporter while the stream runs

	clusters    []bool   // CDS: held cluster names, by interned id
	clusterN    int      // number of clusters held
	edsNames    []string // names subscribed for EDS
	eds         []uint64 // EDS: content hash of each held CLA, by interned id
	edsN        int
	routeNames  []string
	rdsHave     map[string]bool
	deltaVer    [numTypes]map[int32]string // Delta: per-resource versions the client holds (CDS/LDS/RDS names only; EDS uses hashes)
	ackDropped  bool
	recvStopped bool

	// Reconnects (soak). The endpoint contents held before a reconnect stay as
	// prevEDS, as Envoy keeps serving its last config: what the resync brings that
	// differs is a change received, so no change is lost across a reconnect.
	cancelConn   context.CancelFunc
	reconnecting atomic.Bool
	resyncing    bool  // reconnected, not yet synced again
	resyncFrom   int64 // when the old connection was dropped
	resyncMs     []float64
	prevEDS      []uint64
	// What the last applyEDS changed, to undo when its ACK never went out because the
	// connection was dropped: the change was never observed, so the resync must see it as new.
	lastEDS []edsUndo
	// When (seconds since the run started) each reconnect happened, for the stalled-stream message.
	reconnectedAt []float64
}

type edsUndo struct {
	id         int32
	eds, prev  uint64
	firstAfter bool // first receipt after a reconnect (edsN was incremented)
}

// undoLastEDS restores what the last applyEDS overwrote for the clusters it reported changed. Caller holds mu.
func (s *stream) undoLastEDS() {
	for _, u := range s.lastEDS {
		s.eds[u.id] = u.eds
		if u.firstAfter {
			s.edsN--
			s.prevEDS[u.id] = u.prev
		}
	}
	s.lastEDS = nil
}

// requestReconnect drops the stream's connection; its serve loop reconnects. False
// when the stream is not connected (ended, or already reconnecting).
func (s *stream) requestReconnect() bool {
	s.mu.Lock()
	cancel := s.cancelConn
	ok := cancel != nil && s.synced != 0 && !s.resyncing && s.ended.Load() == nil
	s.mu.Unlock()
	if !ok || !s.reconnecting.CompareAndSwap(false, true) {
		return false
	}
	cancel()
	return true
}

// unobserved undoes a response's endpoint changes whose ACK could not be sent (the
// connection is gone): they were never observed, and the resync must bring them as changes.
func (s *stream) unobserved(changed []int32) {
	if len(changed) == 0 {
		return
	}
	s.mu.Lock()
	s.undoLastEDS()
	s.mu.Unlock()
}

func (s *stream) resyncPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.resyncing || s.reconnecting.Load()) && s.ended.Load() == nil
}

// serve runs the stream on conn and, each time a reconnect is requested, again on
// a new connection with fresh protocol state, until ctx ends or the stream fails.
func (s *stream) serve(ctx context.Context, conn *grpc.ClientConn) {
	for {
		connCtx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.cancelConn = cancel
		s.mu.Unlock()
		s.run(connCtx, conn)
		cancel()
		if ctx.Err() != nil || !s.reconnecting.Load() {
			return
		}
		_ = conn.Close()
		next, err := s.g.dial()
		s.mu.Lock()
		s.resetForReconnect()
		s.mu.Unlock()
		s.reconnecting.Store(false)
		if err != nil {
			s.fail("reconnect: " + err.Error())
			return
		}
		conn = next
	}
}

// resetForReconnect forgets the protocol state of the dropped stream (a new stream
// starts from nothing) but keeps its endpoint contents as prevEDS. Caller holds mu.
func (s *stream) resetForReconnect() {
	s.types = [numTypes]typeState{}
	for id, h := range s.eds {
		if h != 0 {
			for id >= len(s.prevEDS) {
				s.prevEDS = append(s.prevEDS, 0)
			}
			s.prevEDS[id] = h
		}
	}
	s.eds, s.edsN = nil, 0
	s.clusters, s.clusterN, s.edsNames = nil, 0, nil
	s.routeNames, s.rdsHave = nil, map[string]bool{}
	s.deltaVer = [numTypes]map[int32]string{}
	s.resyncing, s.resyncFrom = true, nowNanos()
	s.reconnectedAt = append(s.reconnectedAt, math.Round(float64(s.resyncFrom-s.g.startedAt)/1e8)/10)
}

type sender interface {
	sendSotw(*discovery.DiscoveryRequest) error
	sendDelta(*discovery.DeltaDiscoveryRequest) error
}

type sotwConn struct {
	s discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
}

func (c sotwConn) sendSotw(r *discovery.DiscoveryRequest) error     { return c.s.Send(r) }
func (c sotwConn) sendDelta(*discovery.DeltaDiscoveryRequest) error { return fmt.Errorf("sotw stream") }

type deltaConn struct {
	s discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
}

func (c deltaConn) sendSotw(*discovery.DiscoveryRequest) error         { return fmt.Errorf("delta stream") }
func (c deltaConn) sendDelta(r *discovery.DeltaDiscoveryRequest) error { return c.s.Send(r) }

func (s *stream) node() *core.Node {
	return &core.Node{
		Id:                   s.nodeID,
		Cluster:              "bench",
		Locality:             &core.Locality{Region: s.g.cfg.Region, Zone: s.zone},
		UserAgentName:        "envoy",
		UserAgentVersionType: &core.Node_UserAgentBuildVersion{UserAgentBuildVersion: &core.BuildVersion{Version: s.g.envoyVersion}},
		Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
			"meshcp.namespace": structpb.NewStringValue(s.g.cfg.Namespace),
		}},
	}
}

func (s *stream) fail(msg string) {
	if s.reconnecting.Load() {
		return // the connection was dropped on purpose
	}
	if s.ended.Load() == nil {
		s.ended.Store(&msg)
	}
}

// run opens the ADS stream and serves it until ctx ends.
func (s *stream) run(ctx context.Context, conn *grpc.ClientConn) {
	client := discovery.NewAggregatedDiscoveryServiceClient(conn)
	s.started = nowNanos()
	if s.g.cfg.Mode == "delta" {
		ds, err := client.DeltaAggregatedResources(ctx)
		if err != nil {
			s.fail("open: " + err.Error())
			return
		}
		s.runDelta(ctx, ds)
		return
	}
	ss, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		s.fail("open: " + err.Error())
		return
	}
	s.runSotw(ctx, ss)
}

// ---------------------------------------------------------------- SotW

func (s *stream) runSotw(ctx context.Context, ss discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	send := sotwConn{ss}
	first := true
	req := func(t int, names []string) *discovery.DiscoveryRequest {
		st := &s.types[t]
		r := &discovery.DiscoveryRequest{TypeUrl: typeURLs[t], ResourceNames: names, VersionInfo: st.ackedVersion, ResponseNonce: st.nonce}
		if first {
			r.Node = s.node() // set_node_on_first_message_only, as meshcp's bootstrap sets it
			first = false
		}
		return r
	}
	// Like Envoy: wildcard CDS and LDS first (empty resource_names).
	if !s.subscribeWildcard(func(t int) error { return send.sendSotw(req(t, nil)) }) {
		return
	}
	for {
		resp, recv, t, ok := nextResponse(ctx, s, ss.Recv)
		if !ok {
			return
		}
		s.mu.Lock()
		st := &s.types[t]
		st.received(recv, resp.VersionInfo, resp.Nonce)
		if resp.VersionInfo == "" || resp.Nonce == "" {
			st.slip("response without version_info or nonce")
		}
		var changed []int32
		var edsNamesChanged, rdsNamesChanged bool
		switch t {
		case typeCDS:
			edsNamesChanged = s.setClusters(resp.Resources)
		case typeEDS:
			changed = s.applyEDS(resp.Resources, nil)
		case typeLDS:
			rdsNamesChanged = s.setListeners(resp.Resources)
		case typeRDS:
			for _, r := range resp.Resources {
				s.rdsHave[resourceName(r.Value)] = true
			}
		}
		st.resourcesTotal += len(resp.Resources)
		names := s.subscribed(t)
		s.mu.Unlock()

		if s.dropsAck(t) {
			continue
		}
		ackVersion := resp.VersionInfo
		if s.g.fault.corruptAck(s, t) {
			ackVersion = "corrupted-" + ackVersion
		}
		ack := req(t, names)
		ack.VersionInfo = ackVersion
		if err := send.sendSotw(ack); err != nil {
			s.unobserved(changed)
			s.fail("send ack: " + err.Error())
			return
		}
		acked := nowNanos()
		s.mu.Lock()
		st.acks++
		st.ackedVersion, st.ackedNonce, st.lastAck = ackVersion, resp.Nonce, acked
		if ackVersion != resp.VersionInfo {
			st.slip("ACK version differs from the response's")
		}
		s.checkSynced(acked)
		// New EDS/RDS subscriptions follow what CDS/LDS brought, as Envoy does.
		var follow []*discovery.DiscoveryRequest
		if edsNamesChanged {
			s.types[typeEDS].requested = true
			follow = append(follow, req(typeEDS, s.edsNames))
		}
		if rdsNamesChanged {
			s.types[typeRDS].requested = true
			follow = append(follow, req(typeRDS, s.routeNames))
		}
		s.mu.Unlock()
		for _, r := range follow {
			if err := send.sendSotw(r); err != nil {
				s.fail("send: " + err.Error())
				return
			}
		}
		if len(changed) > 0 {
			s.g.tracker.observe(s.idx, changed, recv, acked)
		}
	}
}

// subscribeWildcard sends the first CDS and LDS requests, as Envoy does; false if a send failed.
func (s *stream) subscribeWildcard(send func(t int) error) bool {
	for _, t := range []int{typeCDS, typeLDS} {
		s.types[t].requested = true
		if err := send(t); err != nil {
			s.fail("send: " + err.Error())
			return false
		}
	}
	return true
}

// typedResponse is what both the SotW and the Delta response have in common here.
type typedResponse interface {
	proto.Message
	GetTypeUrl() string
}

// nextResponse reads until a response of a type we track arrives, counting every
// response received; ok is false once the stream is over.
func nextResponse[R typedResponse](ctx context.Context, s *stream, recv func() (R, error)) (resp R, at int64, t int, ok bool) {
	for {
		resp, err := recv()
		if err != nil {
			if ctx.Err() == nil {
				s.fail("recv: " + err.Error())
			}
			return resp, 0, -1, false
		}
		at := nowNanos()
		if s.g.fault.stopRecv(s) {
			continue // test fault: the stream keeps its connection but stops processing
		}
		s.g.bytes.Add(int64(proto.Size(resp)))
		s.g.responses.Add(1)
		if t := typeIndex(resp.GetTypeUrl()); t >= 0 {
			return resp, at, t, true
		}
	}
}

func (s *stream) subscribed(t int) []string {
	switch t {
	case typeEDS:
		return s.edsNames
	case typeRDS:
		return s.routeNames
	}
	return nil
}

// setClusters replaces the held cluster set (SotW CDS is full state); true when
// the EDS subscription must change.
func (s *stream) setClusters(resources []*anyRes) bool {
	next := make([]bool, len(s.clusters))
	n := 0
	for _, r := range resources {
		id := s.g.names.id(resourceName(r.Value))
		for int(id) >= len(next) {
			next = append(next, false)
		}
		if !next[id] {
			next[id] = true
			n++
		}
	}
	same := n == s.clusterN
	if same {
		for id, held := range next {
			if held && (id >= len(s.clusters) || !s.clusters[id]) {
				same = false
				break
			}
		}
	}
	s.clusters, s.clusterN = next, n
	if same && s.types[typeEDS].requested {
		return false
	}
	s.edsNames = s.g.nameList(next, n)
	return true
}

// applyEDS records the content hash of every CLA received; returns the ids whose
// content changed (not first receipt).
func (s *stream) applyEDS(resources []*anyRes, names []string) []int32 {
	var changed []int32
	s.lastEDS = s.lastEDS[:0]
	for i, r := range resources {
		name := ""
		if names != nil {
			name = names[i]
		} else {
			name = resourceName(r.Value)
		}
		id := s.g.names.id(name)
		for int(id) >= len(s.eds) {
			s.eds = append(s.eds, 0)
		}
		h := contentHash(r.Value)
		old := s.eds[id]
		if old == 0 {
			s.edsN++
			if int(id) < len(s.prevEDS) && s.prevEDS[id] != 0 {
				// First receipt after a reconnect: a change if it differs from what was held before.
				if s.prevEDS[id] != h {
					changed = append(changed, id)
					s.lastEDS = append(s.lastEDS, edsUndo{id: id, eds: 0, prev: s.prevEDS[id], firstAfter: true})
				}
				s.prevEDS[id] = 0
			}
		} else if old != h {
			changed = append(changed, id)
			s.lastEDS = append(s.lastEDS, edsUndo{id: id, eds: old})
		}
		s.eds[id] = h
	}
	return changed
}

func (s *stream) setListeners(resources []*anyRes) bool {
	seen := map[string]bool{}
	var routes []string
	for _, r := range resources {
		for _, name := range routeNamesOf(r.Value) {
			if !seen[name] {
				seen[name] = true
				routes = append(routes, name)
			}
		}
	}
	if len(routes) == len(s.routeNames) {
		same := true
		for i := range routes {
			if routes[i] != s.routeNames[i] {
				same = false
			}
		}
		if same && s.types[typeRDS].requested {
			return false
		}
	}
	s.routeNames = routes
	return true
}

// checkSynced marks the first moment every type is ACKed with complete contents.
func (s *stream) checkSynced(at int64) {
	if s.synced != 0 && !s.resyncing {
		return
	}
	for t := 0; t < numTypes; t++ {
		if s.types[t].acks == 0 || s.types[t].ackedNonce != s.types[t].nonce {
			return
		}
	}
	if s.clusterN == 0 || s.clusterN < s.g.cfg.ExpectClusters || s.edsN < s.clusterN {
		return
	}
	for _, r := range s.routeNames {
		if !s.rdsHave[r] {
			return
		}
	}
	if s.resyncing {
		s.resyncing = false
		s.resyncMs = append(s.resyncMs, float64(at-s.resyncFrom)/1e6)
		return
	}
	s.synced = at
	s.g.syncedCount.Add(1)
}

// ---------------------------------------------------------------- Delta

func (s *stream) runDelta(ctx context.Context, ds discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient) {
	send := deltaConn{ds}
	first := true
	req := func(t int) *discovery.DeltaDiscoveryRequest {
		r := &discovery.DeltaDiscoveryRequest{TypeUrl: typeURLs[t]}
		if first {
			r.Node = s.node()
			first = false
		}
		return r
	}
	for t := 0; t < numTypes; t++ {
		s.deltaVer[t] = map[int32]string{}
	}
	// An empty subscribe list on the first request is the wildcard.
	if !s.subscribeWildcard(func(t int) error { return send.sendDelta(req(t)) }) {
		return
	}
	for {
		resp, recv, t, ok := nextResponse(ctx, s, ds.Recv)
		if !ok {
			return
		}
		s.mu.Lock()
		st := &s.types[t]
		st.received(recv, resp.SystemVersionInfo, resp.Nonce)
		if resp.Nonce == "" {
			st.slip("response without nonce")
		}
		held := s.deltaVer[t]
		var changed []int32
		var subscribe, unsubscribe []string
		if t == typeEDS {
			vals := make([]*anyRes, 0, len(resp.Resources))
			names := make([]string, 0, len(resp.Resources))
			for _, r := range resp.Resources {
				if r.Resource != nil {
					vals = append(vals, &anyRes{Value: r.Resource.Value})
					names = append(names, r.Name)
				}
			}
			changed = s.applyEDS(vals, names)
			for _, name := range resp.RemovedResources {
				id := s.g.names.id(name)
				if int(id) < len(s.eds) && s.eds[id] != 0 {
					s.eds[id] = 0
					s.edsN--
				}
			}
		} else {
			for _, r := range resp.Resources {
				if r.Version == "" {
					st.slip("delta resource without version")
				}
				held[s.g.names.id(r.Name)] = r.Version
			}
			for _, name := range resp.RemovedResources {
				delete(held, s.g.names.id(name))
			}
			switch t {
			case typeCDS:
				subscribe, unsubscribe = s.deltaFollow(typeEDS, held, resp)
			case typeLDS:
				subscribe, unsubscribe = s.deltaFollow(typeRDS, nil, resp)
			case typeRDS:
				for _, r := range resp.Resources {
					s.rdsHave[r.Name] = true
				}
			}
		}
		st.resourcesTotal += len(resp.Resources)
		s.mu.Unlock()

		if s.dropsAck(t) {
			continue
		}
		ack := req(t)
		ack.ResponseNonce = resp.Nonce
		if err := send.sendDelta(ack); err != nil {
			s.unobserved(changed)
			s.fail("send ack: " + err.Error())
			return
		}
		acked := nowNanos()
		s.mu.Lock()
		st.acks++
		st.ackedVersion, st.ackedNonce, st.lastAck = resp.SystemVersionInfo, resp.Nonce, acked
		s.checkSynced(acked)
		s.mu.Unlock()
		if len(subscribe)+len(unsubscribe) > 0 {
			follow := typeEDS
			if t == typeLDS {
				follow = typeRDS
			}
			s.mu.Lock()
			s.types[follow].requested = true
			s.mu.Unlock()
			r := req(follow)
			r.ResourceNamesSubscribe, r.ResourceNamesUnsubscribe = subscribe, unsubscribe
			if err := send.sendDelta(r); err != nil {
				s.fail("send: " + err.Error())
				return
			}
		}
		if len(changed) > 0 {
			s.g.tracker.observe(s.idx, changed, recv, acked)
		}
	}
}

// deltaFollow computes the EDS (from CDS) or RDS (from LDS) subscription change.
func (s *stream) deltaFollow(follow int, heldClusters map[int32]string, resp *discovery.DeltaDiscoveryResponse) (sub, unsub []string) {
	if follow == typeEDS {
		next := make([]bool, 0, len(s.clusters))
		n := 0
		for id := range heldClusters {
			for int(id) >= len(next) {
				next = append(next, false)
			}
			next[id] = true
			n++
		}
		for id, was := range s.clusters {
			if was && (id >= len(next) || !next[id]) {
				unsub = append(unsub, s.g.names.name(int32(id)))
			}
		}
		for id, now := range next {
			if now && (id >= len(s.clusters) || !s.clusters[id]) {
				sub = append(sub, s.g.names.name(int32(id)))
			}
		}
		s.clusters, s.clusterN = next, n
		return sub, unsub
	}
	seen := map[string]bool{}
	var routes []string
	for _, r := range resp.Resources {
		if r.Resource == nil {
			continue
		}
		for _, name := range routeNamesOf(r.Resource.Value) {
			if !seen[name] {
				seen[name] = true
				routes = append(routes, name)
			}
		}
	}
	old := map[string]bool{}
	for _, r := range s.routeNames {
		old[r] = true
	}
	for _, r := range routes {
		if !old[r] {
			sub = append(sub, r)
			s.routeNames = append(s.routeNames, r)
		}
	}
	return sub, nil
}

// ---------------------------------------------------------------- decoding helpers

type anyRes = anypb.Any

// resourceName reads field 1 (name / cluster_name) of a Cluster, Listener,
// RouteConfiguration or ClusterLoadAssignment without decoding the rest.
func resourceName(b []byte) string {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return ""
			}
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return ""
		}
		b = b[m:]
	}
	return ""
}

// routeNamesOf returns the RDS route_config_names a Listener's HTTP connection managers name.
func routeNamesOf(b []byte) []string {
	var l listener.Listener
	if err := proto.Unmarshal(b, &l); err != nil {
		return nil
	}
	var out []string
	chains := l.FilterChains
	if l.DefaultFilterChain != nil {
		chains = append(chains, l.DefaultFilterChain)
	}
	for _, fc := range chains {
		for _, f := range fc.Filters {
			tc := f.GetTypedConfig()
			if tc == nil {
				continue
			}
			var m hcm.HttpConnectionManager
			if tc.MessageIs(&m) && tc.UnmarshalTo(&m) == nil && m.GetRds() != nil {
				out = append(out, m.GetRds().RouteConfigName)
			}
		}
	}
	return out
}
