// A minimal OpenTelemetry collector for meshcp's tracing test: the collector's own
// OTLP receiver (go.opentelemetry.io/collector/receiver/otlpreceiver, gRPC and
// HTTP) feeding a consumer that writes every batch of spans as one line of OTLP
// JSON (the collector's ptrace JSON marshaler, as its file exporter writes) to
// --out. Built from the Go module by e2e/scripts/build-otel-collector.sh.
//
//	meshcp-otelcol --grpc 127.0.0.1:4317 [--http 127.0.0.1:4318] --out spans.jsonl
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:4317", "OTLP/gRPC listen address")
	httpAddr := flag.String("http", "", "OTLP/HTTP listen address (off when empty)")
	out := flag.String("out", "", "file the spans are appended to, one OTLP JSON batch per line")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "meshcp-otelcol: --out is required")
		os.Exit(2)
	}
	file, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshcp-otelcol:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	marshaler := &ptrace.JSONMarshaler{}
	sink, err := consumer.NewTraces(func(_ context.Context, traces ptrace.Traces) error {
		line, err := marshaler.MarshalTraces(traces)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := file.Write(append(line, '\n')); err != nil {
			return err
		}
		return file.Sync()
	})
	if err != nil {
		panic(err)
	}

	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig()
	protocols := map[string]any{"grpc": map[string]any{"endpoint": *grpcAddr}}
	if *httpAddr != "" {
		protocols["http"] = map[string]any{"endpoint": *httpAddr}
	}
	// Through confmap, as the collector reads its YAML: the same defaults and checks.
	if err := confmap.NewFromStringMap(map[string]any{"protocols": protocols}).Unmarshal(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "meshcp-otelcol: config:", err)
		os.Exit(1)
	}
	if v, ok := cfg.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, "meshcp-otelcol: config:", err)
			os.Exit(1)
		}
	}
	ctx := context.Background()
	receiver, err := factory.CreateTraces(ctx, receivertest.NewNopSettings(factory.Type()), cfg, sink)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshcp-otelcol: receiver:", err)
		os.Exit(1)
	}
	if err := receiver.Start(ctx, componenttest.NewNopHost()); err != nil {
		fmt.Fprintln(os.Stderr, "meshcp-otelcol: start:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "meshcp-otelcol: listening grpc=%s http=%s\n", *grpcAddr, *httpAddr)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	_ = receiver.Shutdown(ctx)
	_ = file.Close()
}
