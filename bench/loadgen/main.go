// Command loadgen simulates Envoy sidecars against an xDS server: N ADS streams
// (SotW or Delta) that subscribe like Envoy (wildcard CDS and LDS, then EDS for
// every cluster and RDS for every route name that arrives), ACK every response,
// and record receipt and ACK times per stream and type. It can apply endpoint
// changes through the server's local control endpoint and measures how long each
// takes to reach every stream (change → that stream's ACK of a response carrying
// it). It checks itself: missing ACKs, wrong or unknown versions, streams that
// stopped receiving. One JSON report goes to stdout; progress to stderr.
//
// Every phase is bounded (-max-duration); the process stops by itself.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

type Config struct {
	Target         string        `json:"target"`
	Control        string        `json:"control"`
	Streams        int           `json:"streams"`
	StreamsPerConn int           `json:"streamsPerConn"`
	Mode           string        `json:"mode"`
	Region         string        `json:"region"`
	Zones          []string      `json:"zones"`
	Namespace      string        `json:"namespace"`
	EnvoyVersion   string        `json:"envoyVersion"`
	ExpectClusters int           `json:"expectClusters"`
	Services       int           `json:"services"`
	ServiceFormat  string        `json:"serviceFormat"`
	ServicePort    int           `json:"servicePort"`
	Endpoints      int           `json:"endpoints"`
	Changes        int           `json:"changes"`
	PortBase       int           `json:"changePortBase"`
	ChurnRate      float64       `json:"churnRate"`
	ChurnSeconds   float64       `json:"churnSeconds"`
	SyncTimeout    time.Duration `json:"-"`
	ChangeTimeout  time.Duration `json:"-"`
	Quiet          time.Duration `json:"-"`
	MaxDuration    time.Duration `json:"-"`
	ServerPID      int           `json:"serverPid"`
	Detail         bool          `json:"detail"`
	Faults         faults        `json:"faults"`
	// TLS (meshcp's authenticating server): CA bundle, client certificate and key.
	CAFile     string `json:"caFile,omitempty"`
	CertFile   string `json:"certFile,omitempty"`
	KeyFile    string `json:"keyFile,omitempty"`
	ServerName string `json:"serverName,omitempty"`
	// Soak: this fraction of the streams reconnects every second during the churn phase.
	ReconnectRate float64       `json:"reconnectRate"`
	SampleEvery   time.Duration `json:"-"`
	ScrapeURL     string        `json:"scrapeUrl,omitempty"`
	// Histogram bounds (seconds): change → ACK latencies are also counted into these buckets, to compare with a server's histogram.
	Buckets []float64 `json:"buckets,omitempty"`
}

type generator struct {
	cfg          Config
	envoyVersion *typev3.SemanticVersion
	names        *interner
	tracker      *tracker
	fault        *faults
	streams      []*stream
	bytes        atomic.Int64
	responses    atomic.Int64
	syncedCount  atomic.Int64
	listMu       sync.Mutex
	lists        map[string][]string
	creds        credentials.TransportCredentials
	startedAt    int64
	reconnects   atomic.Int64
}

// nameList returns the sorted names of a held-cluster bitset, shared between
// streams holding the same set (the EDS resource_names every SotW ACK repeats).
func (g *generator) nameList(bits []bool, n int) []string {
	key := make([]byte, len(bits))
	for i, b := range bits {
		if b {
			key[i] = 1
		}
	}
	g.listMu.Lock()
	defer g.listMu.Unlock()
	if l, ok := g.lists[string(key)]; ok {
		return l
	}
	l := make([]string, 0, n)
	for id, b := range bits {
		if b {
			l = append(l, g.names.name(int32(id)))
		}
	}
	sort.Strings(l)
	g.lists[string(key)] = l
	return l
}

// transportCredentials is plaintext, or TLS with the server verified against -ca
// and, with -cert/-key, a client certificate (meshcp's workload identity).
func (c Config) transportCredentials() (credentials.TransportCredentials, error) {
	if c.CAFile == "" {
		return insecure.NewCredentials(), nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", c.CAFile)
	}
	conf := &tls.Config{RootCAs: roots, ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(conf), nil
}

func (g *generator) dial() (*grpc.ClientConn, error) {
	return grpc.NewClient(g.cfg.Target,
		grpc.WithTransportCredentials(g.creds),
		// Like Envoy, a stream whose connection attempt fails retries (with backoff)
		// instead of giving up: a busy server at cold start refuses or stalls some.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.WaitForReady(true)),
	)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[loadgen %s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func parseFlags(args []string) (Config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var c Config
	var zones string
	fs.StringVar(&c.Target, "target", "127.0.0.1:18000", "xDS server host:port (loopback only)")
	fs.StringVar(&c.Control, "control", "", "server control endpoint base URL, e.g. http://127.0.0.1:18001 (empty: no changes)")
	fs.IntVar(&c.Streams, "streams", 100, "ADS streams (simulated Envoys)")
	fs.IntVar(&c.StreamsPerConn, "streams-per-conn", 1, "streams sharing one HTTP/2 connection (Envoy: 1)")
	fs.StringVar(&c.Mode, "mode", "sotw", "sotw or delta")
	fs.StringVar(&c.Region, "region", "eu", "locality region of every stream")
	fs.StringVar(&zones, "zones", "eu-1a,eu-1b,eu-1c", "zones, assigned round-robin")
	fs.StringVar(&c.Namespace, "namespace", "shop", "node metadata meshcp.namespace")
	fs.StringVar(&c.EnvoyVersion, "envoy-version", "1.40.0", "user_agent_build_version")
	fs.IntVar(&c.ExpectClusters, "expect-clusters", 1, "a stream is synced only once it holds at least this many clusters")
	fs.IntVar(&c.Services, "services", 1000, "services the changes cycle through")
	fs.StringVar(&c.ServiceFormat, "service-format", "svc-%04d", "service name from its index")
	fs.IntVar(&c.ServicePort, "service-port", 8080, "service port (cluster name NAME.NAMESPACE:PORT)")
	fs.IntVar(&c.Endpoints, "endpoints", 10, "endpoints per service (the changes cycle through them)")
	fs.IntVar(&c.Changes, "changes", 3, "single endpoint changes, one after the other, each awaited")
	fs.IntVar(&c.PortBase, "change-port-base", 20000, "change k moves an endpoint to port base+k (use another base to re-run against the same server)")
	fs.Float64Var(&c.ChurnRate, "churn-rate", 0, "endpoint changes per second during the churn phase (0: none)")
	fs.Float64Var(&c.ChurnSeconds, "churn-seconds", 60, "length of the churn phase")
	fs.DurationVar(&c.SyncTimeout, "sync-timeout", 5*time.Minute, "deadline for the initial sync")
	fs.DurationVar(&c.ChangeTimeout, "change-timeout", time.Minute, "deadline for one change (or the churn backlog) to converge")
	fs.DurationVar(&c.Quiet, "quiet", time.Second, "no responses for this long = quiescent")
	fs.DurationVar(&c.MaxDuration, "max-duration", 20*time.Minute, "hard limit for the whole run")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "pid of the server, for CPU seconds and RSS from /proc")
	fs.BoolVar(&c.Detail, "detail", false, "include per-stream records in the report")
	fs.IntVar(&c.Faults.DropAckStream, "fault-drop-ack-stream", -1, "test: this stream skips its first ACK after the initial sync")
	fs.StringVar(&c.Faults.DropAckType, "fault-drop-ack-type", "EDS", "test: type whose ACK is skipped")
	fs.IntVar(&c.Faults.StopStream, "fault-stop-stream", -1, "test: this stream stops processing responses after the initial sync")
	fs.IntVar(&c.Faults.CorruptStream, "fault-corrupt-ack-stream", -1, "test: this stream ACKs EDS with a wrong version after the initial sync")
	fs.StringVar(&c.CAFile, "ca", "", "TLS: CA bundle (PEM) that signed the server's certificate (empty: plaintext)")
	fs.StringVar(&c.CertFile, "cert", "", "TLS: client certificate (PEM), e.g. from `meshcp identity issue`")
	fs.StringVar(&c.KeyFile, "key", "", "TLS: client private key (PEM)")
	fs.StringVar(&c.ServerName, "server-name", "", "TLS: server name to verify (default: the target host)")
	fs.Float64Var(&c.ReconnectRate, "reconnect-rate", 0, "soak: fraction of the streams that drop their connection and reconnect every second during churn (0.01 = 1 %)")
	fs.DurationVar(&c.SampleEvery, "sample-every", 0, "sample the server's CPU seconds and RSS this often for the whole run (0: only at phase boundaries)")
	fs.StringVar(&c.ScrapeURL, "scrape", "", "GET this URL (loopback) after the single-change phase and put the text in the report (Prometheus metrics)")
	var buckets string
	fs.StringVar(&buckets, "buckets", "", "comma-separated histogram upper bounds in seconds: change → ACK latencies are also reported as cumulative counts over them")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Zones = strings.Split(zones, ",")
	if buckets != "" {
		for _, b := range strings.Split(buckets, ",") {
			var v float64
			if _, err := fmt.Sscanf(b, "%g", &v); err != nil {
				return c, fmt.Errorf("-buckets: %q: %w", b, err)
			}
			c.Buckets = append(c.Buckets, v)
		}
	}
	if c.Mode != "sotw" && c.Mode != "delta" {
		return c, fmt.Errorf("-mode must be sotw or delta")
	}
	host := c.Target[:strings.LastIndex(c.Target, ":")]
	if host != "localhost" && !strings.HasPrefix(host, "127.") && host != "[::1]" {
		return c, fmt.Errorf("-target must be on loopback (127.0.0.0/8)")
	}
	if c.Control != "" && !strings.HasPrefix(c.Control, "http://127.") && !strings.HasPrefix(c.Control, "http://localhost") {
		return c, fmt.Errorf("-control must be on loopback")
	}
	if c.StreamsPerConn < 1 {
		c.StreamsPerConn = 1
	}
	if c.ReconnectRate > 0 && c.StreamsPerConn != 1 {
		return c, fmt.Errorf("-reconnect-rate needs -streams-per-conn=1 (a reconnect replaces the stream's own connection)")
	}
	if c.ScrapeURL != "" && !strings.HasPrefix(c.ScrapeURL, "http://127.") && !strings.HasPrefix(c.ScrapeURL, "http://localhost") {
		return c, fmt.Errorf("-scrape must be on loopback")
	}
	if (c.CertFile == "") != (c.KeyFile == "") || (c.CertFile != "" && c.CAFile == "") {
		return c, fmt.Errorf("-cert and -key go together, and need -ca")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	report, err := Run(cfg)
	if report != nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	}
	if err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

// Run executes every phase and returns the report (also when a phase failed).
func Run(cfg Config) (*Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxDuration)
	defer cancel()
	var major, minor, patch uint32
	fmt.Sscanf(cfg.EnvoyVersion, "%d.%d.%d", &major, &minor, &patch)
	g := &generator{
		cfg:          cfg,
		envoyVersion: &typev3.SemanticVersion{MajorNumber: major, MinorNumber: minor, Patch: patch},
		names:        newInterner(),
		fault:        &cfg.Faults,
		lists:        map[string][]string{},
	}
	g.fault.init()
	creds, err := cfg.transportCredentials()
	if err != nil {
		return nil, err
	}
	g.creds = creds
	g.tracker = newTracker(cfg.Streams)
	g.tracker.bounds = cfg.Buckets
	// A long soak would keep one latency per stream × change (gigabytes): count them in a histogram instead.
	g.tracker.compact = cfg.ChurnRate*cfg.ChurnSeconds*float64(cfg.Streams) > 5e6
	report := &Report{Config: cfg, Server: map[string]ProcStat{}, Self: map[string]ProcStat{}}
	mark := func(phase string) {
		if cfg.ServerPID > 0 {
			report.Server[phase] = readProc(cfg.ServerPID)
		}
		report.Self[phase] = readProc(os.Getpid())
	}
	mark("idle")
	stopSampling := g.sample(ctx, report)
	defer stopSampling()

	// Phase 1: every stream connects at once (cold start).
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var conns []*grpc.ClientConn
	start := nowNanos()
	report.StartedAt = start
	g.startedAt = start
	var wg sync.WaitGroup
	for i := 0; i < cfg.Streams; i++ {
		if i%cfg.StreamsPerConn == 0 {
			conn, err := g.dial()
			if err != nil {
				return report, err
			}
			conns = append(conns, conn)
		}
		s := &stream{idx: i, nodeID: fmt.Sprintf("sidecar-%05d", i), zone: cfg.Zones[i%len(cfg.Zones)], g: g, rdsHave: map[string]bool{}}
		g.streams = append(g.streams, s)
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i, s := range g.streams {
		wg.Add(1)
		go func(s *stream, conn *grpc.ClientConn) {
			defer wg.Done()
			s.serve(streamCtx, conn)
		}(s, conns[i/cfg.StreamsPerConn])
	}
	logf("%d %s streams connecting to %s", cfg.Streams, cfg.Mode, cfg.Target)

	// Phase 2: wait for the full initial sync.
	syncDeadline := time.Now().Add(cfg.SyncTimeout)
	lastLog := time.Now()
	for ctx.Err() == nil && time.Now().Before(syncDeadline) {
		synced := int(g.syncedCount.Load())
		if synced+g.endedUnsynced() >= cfg.Streams {
			break
		}
		if time.Since(lastLog) > 5*time.Second {
			logf("synced %d/%d (%.1f MB received)", synced, cfg.Streams, float64(g.bytes.Load())/1e6)
			lastLog = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	report.Sync = g.syncSummary(start)
	mark("synced")
	logf("initial sync: %d/%d streams in %.0f ms", report.Sync.Synced, cfg.Streams, report.Sync.TimeToFullSyncMs)
	g.quiesce(ctx, cfg.Quiet)

	// Phase 3: single endpoint changes, each awaited.
	seq := 0
	if cfg.Control != "" && cfg.Changes > 0 {
		var changes []*change
		for i := 0; i < cfg.Changes && ctx.Err() == nil; i++ {
			svc := (cfg.Services/2 + i*7) % max(cfg.Services, 1)
			ch, err := g.applyChange(ctx, seq, svc)
			seq++
			if err != nil {
				report.Errors = append(report.Errors, err.Error())
				break
			}
			g.waitConverged(ctx, []*change{ch}, cfg.ChangeTimeout)
			changes = append(changes, ch)
			g.quiesce(ctx, cfg.Quiet)
		}
		report.Change = g.tracker.summary(changes, g.liveStreams())
		mark("changed")
		if cfg.ScrapeURL != "" {
			report.Scrape = scrape(ctx, cfg.ScrapeURL)
		}
		logf("single change: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d/%d stream-changes converged)",
			report.Change.PerStream.P50, report.Change.PerStream.P99, report.Change.PerStream.Max, report.Change.Converged, report.Change.Expected)
	}

	// Phase 4: steady churn.
	if cfg.Control != "" && cfg.ChurnRate > 0 && ctx.Err() == nil {
		churnStart := time.Now()
		var changes []*change
		interval := time.Duration(float64(time.Second) / cfg.ChurnRate)
		next := time.Now()
		// Reconnects stop a few seconds before the churn does, so every stream can resync before the checks.
		churnFor := time.Duration(cfg.ChurnSeconds * float64(time.Second))
		stopReconnects := g.reconnectLoop(ctx, churnFor-min(churnFor/10, 10*time.Second))
		for time.Since(churnStart) < time.Duration(cfg.ChurnSeconds*float64(time.Second)) && ctx.Err() == nil {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
			if behind := time.Since(next); behind > time.Second {
				next = time.Now() // the server answers slower than the rate: do not burst to catch up
			}
			svc := (seq * 7) % max(cfg.Services, 1)
			ch, err := g.applyChange(ctx, seq, svc)
			seq++
			if err != nil {
				report.Errors = append(report.Errors, err.Error())
				break
			}
			changes = append(changes, ch)
		}
		elapsed := time.Since(churnStart).Seconds()
		stopReconnects()
		mark("churned")
		g.waitConverged(ctx, changes, cfg.ChangeTimeout)
		g.waitResynced(ctx, cfg.ChangeTimeout)
		s := g.tracker.summary(changes, g.liveStreams())
		s.AchievedRate = float64(len(changes)) / elapsed
		report.Churn = s
		mark("churnConverged")
		logf("churn: %d changes at %.1f/s; per change (last ACK) p50 %.1f ms p99 %.1f ms; per stream p50 %.1f ms p99 %.1f ms",
			len(changes), s.AchievedRate, s.PerChange.P50, s.PerChange.P99, s.PerStream.P50, s.PerStream.P99)
	}

	report.Reconnects = g.reconnects.Load()
	if report.Reconnects > 0 {
		report.Resync = g.resyncSummary()
	}
	report.Checks = g.check(report)
	report.BytesReceived = g.bytes.Load()
	report.Responses = g.responses.Load()
	if cfg.Detail {
		report.Streams = g.detail(start)
	}
	mark("end")
	stopStreams()
	wg.Wait()
	if !report.Checks.OK {
		return report, fmt.Errorf("self-checks failed: %s", strings.Join(report.Checks.Errors, "; "))
	}
	return report, nil
}

func (g *generator) endedCount() int {
	n := 0
	for _, s := range g.streams {
		if s.ended.Load() != nil {
			n++
		}
	}
	return n
}

// endedUnsynced counts streams that ended before completing the initial sync.
func (g *generator) endedUnsynced() int {
	n := 0
	for _, s := range g.streams {
		if s.ended.Load() != nil {
			s.mu.Lock()
			if s.synced == 0 {
				n++
			}
			s.mu.Unlock()
		}
	}
	return n
}

func (g *generator) liveStreams() int { return len(g.streams) - g.endedCount() }

// quiesce waits until no response arrived for `quiet` (at most 20 × quiet).
func (g *generator) quiesce(ctx context.Context, quiet time.Duration) {
	deadline := time.Now().Add(20 * quiet)
	last := g.responses.Load()
	lastChange := time.Now()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(quiet / 10)
		if n := g.responses.Load(); n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) >= quiet {
			return
		}
	}
}

// applyChange moves one endpoint of one service to a new port through the
// server's control endpoint; the change time is taken just before the request.
func (g *generator) applyChange(ctx context.Context, seq, svc int) (*change, error) {
	service := fmt.Sprintf(g.cfg.ServiceFormat, svc)
	cluster := fmt.Sprintf("%s.%s:%d", service, g.cfg.Namespace, g.cfg.ServicePort)
	body, _ := json.Marshal(map[string]any{"service": service, "namespace": g.cfg.Namespace, "endpoint": seq % max(g.cfg.Endpoints, 1), "port": g.cfg.PortBase + seq%20000})
	ch := g.tracker.add(g.names.id(cluster), cluster, nowNanos())
	reqCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodPost, g.cfg.Control+"/change", bytes.NewReader(body))
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	ch.PostMs = float64(nowNanos()-ch.t0) / 1e6
	if err != nil {
		return ch, fmt.Errorf("change %d: %w", seq, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return ch, fmt.Errorf("change %d: %s: %s", seq, resp.Status, text)
	}
	return ch, nil
}

func (g *generator) waitConverged(ctx context.Context, changes []*change, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		live := g.liveStreams()
		if g.tracker.allConverged(changes, live) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *generator) syncSummary(start int64) SyncSummary {
	var times []float64
	for _, s := range g.streams {
		s.mu.Lock()
		if s.synced != 0 {
			times = append(times, float64(s.synced-start)/1e6)
		}
		s.mu.Unlock()
	}
	p := percentiles(times)
	return SyncSummary{Streams: len(g.streams), Synced: len(times), TimeToFullSyncMs: p.Max, PerStream: p}
}

func (g *generator) detail(start int64) []StreamDetail {
	ms := func(t int64) float64 {
		if t == 0 {
			return -1
		}
		return float64(t-start) / 1e6
	}
	out := make([]StreamDetail, 0, len(g.streams))
	for _, s := range g.streams {
		s.mu.Lock()
		d := StreamDetail{Index: s.idx, NodeID: s.nodeID, Zone: s.zone, SyncedMs: ms(s.synced), Types: map[string]TypeDetail{}}
		if e := s.ended.Load(); e != nil {
			d.Ended = *e
		}
		for t := 0; t < numTypes; t++ {
			st := s.types[t]
			d.Types[typeNames[t]] = TypeDetail{Responses: st.responses, Acks: st.acks, Version: st.version, AckedVersion: st.ackedVersion,
				FirstRecvMs: ms(st.firstRecv), LastRecvMs: ms(st.lastRecv), LastAckMs: ms(st.lastAck)}
		}
		s.mu.Unlock()
		out = append(out, d)
	}
	return out
}

// sample reads the server's CPU seconds and RSS every -sample-every until the
// returned stop is called (the soak's time series).
func (g *generator) sample(ctx context.Context, report *Report) (stop func()) {
	if g.cfg.SampleEvery <= 0 || g.cfg.ServerPID <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	var mu sync.Mutex
	take := func() {
		p := readProc(g.cfg.ServerPID)
		mu.Lock()
		report.Samples = append(report.Samples, Sample{AtMs: float64(p.At-report.StartedAt) / 1e6, CPUSeconds: p.CPUSeconds, RSSKB: p.RSSKB,
			Streams: g.liveStreams(), Reconnects: g.reconnects.Load()})
		mu.Unlock()
	}
	go func() {
		defer close(finished)
		t := time.NewTicker(g.cfg.SampleEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				take()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// reconnectLoop makes -reconnect-rate × streams streams (picked at random) drop
// their connection and reconnect every second, for `d`; stop ends it early.
func (g *generator) reconnectLoop(ctx context.Context, d time.Duration) (stop func()) {
	if g.cfg.ReconnectRate <= 0 || d <= 0 {
		return func() {}
	}
	per := max(1, int(g.cfg.ReconnectRate*float64(len(g.streams))+0.5))
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for i := 0; i < per; i++ {
				s := g.streams[rand.IntN(len(g.streams))]
				if s.requestReconnect() {
					g.reconnects.Add(1)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
}

// waitResynced waits until every stream that reconnected completed its sync again.
func (g *generator) waitResynced(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		pending := 0
		for _, s := range g.streams {
			if s.resyncPending() {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *generator) resyncSummary() Percentiles {
	var all []float64
	for _, s := range g.streams {
		s.mu.Lock()
		all = append(all, s.resyncMs...)
		s.mu.Unlock()
	}
	return percentiles(all)
}

// scrape GETs a metrics page; errors are reported in the text.
func scrape(ctx context.Context, url string) string {
	reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "# scrape error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
