package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
)

type Report struct {
	Config        Config              `json:"config"`
	StartedAt     int64               `json:"startedAtUnixNano"`
	Sync          SyncSummary         `json:"sync"`
	Change        *ChangeSummary      `json:"change,omitempty"`
	Churn         *ChangeSummary      `json:"churn,omitempty"`
	Server        map[string]ProcStat `json:"server"`
	Self          map[string]ProcStat `json:"loadgen"`
	Checks        Checks              `json:"checks"`
	BytesReceived int64               `json:"bytesReceived"`
	Responses     int64               `json:"responses"`
	Errors        []string            `json:"errors,omitempty"`
	Streams       []StreamDetail      `json:"streams,omitempty"`
	Samples       []Sample            `json:"samples,omitempty"`
	Scrape        string              `json:"scrape,omitempty"`
	Reconnects    int64               `json:"reconnects"`
	Resync        Percentiles         `json:"resyncMs"` // a reconnected stream: connection dropped → synced again
}

// Sample is the server's CPU and RSS at one moment of the run (-sample-every).
type Sample struct {
	AtMs       float64 `json:"atMs"`
	CPUSeconds float64 `json:"cpuSeconds"`
	RSSKB      int64   `json:"rssKB"`
	Streams    int     `json:"streams"`
	Reconnects int64   `json:"reconnects"`
}

type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type SyncSummary struct {
	Streams          int         `json:"streams"`
	Synced           int         `json:"synced"`
	TimeToFullSyncMs float64     `json:"timeToFullSyncMs"`
	PerStream        Percentiles `json:"perStreamMs"`
}

type ChangeSummary struct {
	Changes      int         `json:"changes"`
	Expected     int         `json:"expectedStreamChanges"`
	Converged    int         `json:"convergedStreamChanges"`
	PerStream    Percentiles `json:"perStreamMs"` // change → that stream's ACK
	PerChange    Percentiles `json:"perChangeMs"` // change → last ACK of it on any stream
	AchievedRate float64     `json:"achievedRate,omitempty"`
	Post         Percentiles `json:"postMs"` // how long the control endpoint took to apply a change
	// Cumulative counts of the per-stream latencies over -buckets (last: +Inf), when given.
	BucketCounts []int64 `json:"bucketCounts,omitempty"`
}

type StreamDetail struct {
	Index    int                   `json:"index"`
	NodeID   string                `json:"nodeId"`
	Zone     string                `json:"zone"`
	SyncedMs float64               `json:"syncedMs"`
	Ended    string                `json:"ended,omitempty"`
	Types    map[string]TypeDetail `json:"types"`
}

type TypeDetail struct {
	Responses    int     `json:"responses"`
	Acks         int     `json:"acks"`
	Version      string  `json:"version"`
	AckedVersion string  `json:"ackedVersion"`
	FirstRecvMs  float64 `json:"firstRecvMs"`
	LastRecvMs   float64 `json:"lastRecvMs"`
	LastAckMs    float64 `json:"lastAckMs"`
}

func percentiles(values []float64) Percentiles {
	if len(values) == 0 {
		return Percentiles{}
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(v)))) - 1
		if i < 0 {
			i = 0
		}
		return round(v[i])
	}
	return Percentiles{N: len(v), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: round(v[len(v)-1])}
}

func round(x float64) float64 { return math.Round(x*100) / 100 }

// ---------------------------------------------------------------- change tracking

type change struct {
	seq     int
	cluster int32
	Name    string
	t0      int64
	acked   []uint64 // bitset of streams that ACKed a response carrying the change
	count   int
	last    int64
	lats    []float32
	PostMs  float64
}

// tracker attributes every content change a stream receives for a cluster to the
// pending changes of that cluster made before the receipt.
type tracker struct {
	mu        sync.Mutex
	streams   int
	seq       int
	byCluster map[int32][]*change
	// compact: per stream × change latencies go into hist (1 ms buckets) instead of each change's lats.
	compact bool
	hist    []int64
	bounds  []float64 // -buckets, seconds
}

// cumulative counts latencies (ms) over bounds (seconds), Prometheus-style, +Inf last.
func cumulative(bounds []float64, latenciesMs []float64) []int64 {
	out := make([]int64, len(bounds)+1)
	for _, l := range latenciesMs {
		for i, b := range bounds {
			if l/1000 <= b {
				out[i]++
			}
		}
		out[len(bounds)]++
	}
	return out
}

const histBuckets = 600_000 // 1 ms each: 10 minutes

func (t *tracker) record(ch *change, ms float64) {
	if !t.compact {
		ch.lats = append(ch.lats, float32(ms))
		return
	}
	if t.hist == nil {
		t.hist = make([]int64, histBuckets)
	}
	b := int(ms)
	if b < 0 {
		b = 0
	}
	if b >= histBuckets {
		b = histBuckets - 1
	}
	t.hist[b]++
}

// histPercentiles reads percentiles off the histogram (upper edge of the bucket).
func histPercentiles(hist []int64) Percentiles {
	var n int64
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return Percentiles{}
	}
	at := func(q float64) float64 {
		rank := int64(math.Ceil(q * float64(n)))
		var seen int64
		for b, c := range hist {
			seen += c
			if seen >= rank {
				return float64(b + 1)
			}
		}
		return float64(len(hist))
	}
	return Percentiles{N: int(n), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: at(1)}
}

func newTracker(streams int) *tracker {
	return &tracker{streams: streams, byCluster: map[int32][]*change{}}
}

func (t *tracker) add(cluster int32, name string, t0 int64) *change {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := &change{seq: t.seq, cluster: cluster, Name: name, t0: t0, acked: make([]uint64, (t.streams+63)/64)}
	t.seq++
	t.byCluster[cluster] = append(t.byCluster[cluster], ch)
	return ch
}

func (t *tracker) observe(stream int, ids []int32, recv, ack int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		for _, ch := range t.byCluster[id] {
			word, bit := stream/64, uint64(1)<<(stream%64)
			if ch.t0 > recv || ch.acked[word]&bit != 0 {
				continue
			}
			ch.acked[word] |= bit
			ch.count++
			t.record(ch, float64(ack-ch.t0)/1e6)
			if ack > ch.last {
				ch.last = ack
			}
		}
	}
}

func (t *tracker) allConverged(changes []*change, live int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range changes {
		if ch.count < live {
			return false
		}
	}
	return true
}

func (t *tracker) summary(changes []*change, live int) *ChangeSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &ChangeSummary{Changes: len(changes), Expected: len(changes) * live}
	var perStream, perChange, post []float64
	for _, ch := range changes {
		post = append(post, ch.PostMs)
		s.Converged += ch.count
		for _, l := range ch.lats {
			perStream = append(perStream, float64(l))
		}
		if ch.count >= live && ch.count > 0 {
			perChange = append(perChange, float64(ch.last-ch.t0)/1e6)
		}
	}
	s.PerStream, s.PerChange, s.Post = percentiles(perStream), percentiles(perChange), percentiles(post)
	if t.compact {
		s.PerStream = histPercentiles(t.hist)
	} else if len(t.bounds) > 0 {
		s.BucketCounts = cumulative(t.bounds, perStream)
	}
	return s
}

// unconverged reports whether a stream missed any of the changes.
func (t *tracker) missed(changes []*change, stream int) (n int, first, last *change) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range changes {
		if ch.acked[stream/64]&(uint64(1)<<(stream%64)) == 0 {
			n++
			if first == nil || ch.t0 < first.t0 {
				first = ch
			}
			if last == nil || ch.t0 > last.t0 {
				last = ch
			}
		}
	}
	return n, first, last
}

func (t *tracker) all() []*change {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*change
	for _, l := range t.byCluster {
		out = append(out, l...)
	}
	return out
}

// ---------------------------------------------------------------- self-checks

type faults struct {
	DropAckStream  int    `json:"dropAckStream"`
	DropAckType    string `json:"dropAckType"`
	StopStream     int    `json:"stopStream"`
	CorruptStream  int    `json:"corruptAckStream"`
	dropAckTypeIdx int
}

func (f *faults) init() {
	f.dropAckTypeIdx = -1
	for i, n := range typeNames {
		if n == f.DropAckType {
			f.dropAckTypeIdx = i
		}
	}
}

func (f *faults) dropAck(s *stream, t int) bool {
	return s.idx == f.DropAckStream && t == f.dropAckTypeIdx && s.synced != 0 && !s.ackDropped
}

func (f *faults) stopRecv(s *stream) bool {
	if s.idx != f.StopStream || s.synced == 0 {
		return false
	}
	s.recvStopped = true
	return true
}

func (f *faults) corruptAck(s *stream, t int) bool {
	return s.idx == f.CorruptStream && t == typeEDS && s.synced != 0
}

type Checks struct {
	OK             bool     `json:"ok"`
	MissingAck     int      `json:"missingAck"`
	WrongVersion   int      `json:"wrongVersion"`
	UnknownVersion int      `json:"unknownVersion"`
	Divergent      int      `json:"divergentContent"`
	Stalled        int      `json:"stalled"`
	Ended          int      `json:"ended"`
	Incomplete     int      `json:"incomplete"`
	NotResynced    int      `json:"notResynced"`
	Errors         []string `json:"errors"`
}

func (c *Checks) add(counter *int, format string, args ...any) {
	*counter++
	if len(c.Errors) < 20 {
		c.Errors = append(c.Errors, fmt.Sprintf(format, args...))
	}
}

// check runs the self-checks over every stream:
//   - missing ACK: a response was received and never ACKed;
//   - wrong version: an ACK carried a version other than the response's, or a
//     response came without version/nonce (SotW) or a resource without version (Delta);
//   - unknown version: a stream's last version of a type is not the one every other
//     stream in its zone converged to (SotW);
//   - divergent content: a stream's endpoint contents differ from its zone's;
//   - stalled: a stream did not receive a change every stream should have received;
//   - ended / incomplete: the stream failed, or never completed the initial sync.
func (g *generator) check(r *Report) Checks {
	c := Checks{Errors: []string{}}
	changes := g.tracker.all()
	type key struct {
		zone string
		t    int
	}
	versions := map[key]map[string]int{}
	contents := map[string]map[uint64]int{}
	fingerprints := make([]uint64, len(g.streams))
	for i, s := range g.streams {
		s.mu.Lock()
		if e := s.ended.Load(); e != nil {
			c.add(&c.Ended, "stream %d ended: %s", i, *e)
		}
		if s.synced != 0 && s.resyncing {
			c.add(&c.NotResynced, "stream %d reconnected and never completed its sync again (clusters %d, endpoints %d, types acked %s)", i, s.clusterN, s.edsN, ackedTypes(s))
		}
		if s.synced == 0 {
			c.add(&c.Incomplete, "stream %d never completed the initial sync (clusters %d, endpoints %d, types acked %s)", i, s.clusterN, s.edsN, ackedTypes(s))
		}
		for t := 0; t < numTypes; t++ {
			st := &s.types[t]
			if st.responses > 0 && (st.ackedNonce != st.nonce || st.acks < st.responses) {
				c.add(&c.MissingAck, "stream %d %s: response nonce %q (%d received, %d ACKed) was never ACKed", i, typeNames[t], st.nonce, st.responses, st.acks)
			}
			if st.wrongVersion > 0 {
				c.add(&c.WrongVersion, "stream %d %s: %s", i, typeNames[t], st.lastErr)
			}
			if g.cfg.Mode == "sotw" && st.responses > 0 {
				k := key{s.zone, t}
				if versions[k] == nil {
					versions[k] = map[string]int{}
				}
				versions[k][st.version]++
			}
		}
		var fp uint64
		for id, h := range s.eds {
			if h != 0 {
				fp += (h ^ uint64(id)*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
			}
		}
		fingerprints[i] = fp
		if contents[s.zone] == nil {
			contents[s.zone] = map[uint64]int{}
		}
		contents[s.zone][fp]++
		s.mu.Unlock()
	}
	majority := func(m map[string]int) string {
		best, n := "", -1
		for v, k := range m {
			if k > n || (k == n && v < best) {
				best, n = v, k
			}
		}
		return best
	}
	for i, s := range g.streams {
		if s.ended.Load() != nil {
			continue
		}
		s.mu.Lock()
		if g.cfg.Mode == "sotw" {
			for t := 0; t < numTypes; t++ {
				if s.types[t].responses == 0 {
					continue
				}
				if m := majority(versions[key{s.zone, t}]); s.types[t].version != m {
					c.add(&c.UnknownVersion, "stream %d %s: holds version %q, its zone %s converged to %q", i, typeNames[t], s.types[t].version, s.zone, m)
				}
			}
		}
		best, n := uint64(0), -1
		for fp, k := range contents[s.zone] {
			if k > n || (k == n && fp < best) {
				best, n = fp, k
			}
		}
		if fingerprints[i] != best {
			c.add(&c.Divergent, "stream %d: endpoint contents differ from the rest of zone %s", i, s.zone)
		}
		s.mu.Unlock()
		if missed, first, last := g.tracker.missed(changes, i); missed > 0 {
			at := func(t int64) float64 { return float64(t-r.StartedAt) / 1e9 }
			s.mu.Lock()
			reconnects := append([]float64(nil), s.reconnectedAt...)
			s.mu.Unlock()
			c.add(&c.Stalled, "stream %d stopped receiving: missed %d of %d changes (first %s at +%.1f s, last %s at +%.1f s; reconnected at %v s)",
				i, missed, len(changes), first.Name, at(first.t0), last.Name, at(last.t0), reconnects)
		}
	}
	c.OK = c.MissingAck+c.WrongVersion+c.UnknownVersion+c.Divergent+c.Stalled+c.Ended+c.Incomplete+c.NotResynced == 0
	return c
}

func ackedTypes(s *stream) string {
	var out []string
	for t := 0; t < numTypes; t++ {
		if s.types[t].acks > 0 {
			out = append(out, typeNames[t])
		}
	}
	return strings.Join(out, ",")
}

// ---------------------------------------------------------------- /proc

type ProcStat struct {
	CPUSeconds float64 `json:"cpuSeconds"`
	RSSKB      int64   `json:"rssKB"`
	PeakRSSKB  int64   `json:"peakRssKB"`
	At         int64   `json:"atUnixNano"`
}

// readProc reads utime+stime and VmRSS/VmHWM of a process and every process below
// it (a server with worker processes is measured as a whole; Linux; CLK_TCK 100).
// Peak RSS of a tree is the sum of the peaks, an upper bound.
func readProc(pid int) ProcStat {
	total := readOneProc(pid)
	for _, child := range childPids(pid) {
		c := readProc(child)
		total.CPUSeconds += c.CPUSeconds
		total.RSSKB += c.RSSKB
		total.PeakRSSKB += c.PeakRSSKB
	}
	return total
}

func childPids(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func readOneProc(pid int) ProcStat {
	p := ProcStat{At: nowNanos()}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		fields := strings.Fields(s[strings.LastIndex(s, ")")+2:])
		if len(fields) > 13 {
			ut, _ := strconv.ParseFloat(fields[11], 64)
			st, _ := strconv.ParseFloat(fields[12], 64)
			p.CPUSeconds = (ut + st) / 100
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				p.RSSKB = v
			case "VmHWM:":
				p.PeakRSSKB = v
			}
		}
	}
	return p
}
