// The proxyless gRPC member of meshcp's demo (grpc-go, from the Go module proxy):
// no sidecar; grpc-go itself reads the xDS bootstrap the injector puts in
// GRPC_XDS_BOOTSTRAP_CONFIG (pod annotation meshcp.io/proxyless: grpc) and gets
// listeners, routes, clusters and endpoints from meshcp.
//
//	server: demo-grpc server --port 50051 --name greeter   (answers with its name, on every address)
//	client: demo-grpc client xds:///greeter.polyglot:50051 COUNT [INTERVAL_MS]
//	        → one JSON line per RPC: {"ok":true,"backend":"greeter"} or {"ok":false,"code":14,"message":"…"}
//	        (with an interval it keeps its xDS stream open between RPCs: a long-running client)
//
// The RPC is /meshcp.test.Echo/Who with google.protobuf.StringValue in and out,
// the same as the compat matrix's programs (compat-matrix/clients), so either side
// interoperates with them.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	_ "google.golang.org/grpc/xds" // the xds:/// resolver and the xDS balancers
)

const method = "/meshcp.test.Echo/Who"

type result struct {
	OK      bool   `json:"ok"`
	Backend string `json:"backend,omitempty"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func client(target string, count int, interval time.Duration) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	out := json.NewEncoder(os.Stdout)
	for i := 0; i < count; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reply := &wrapperspb.StringValue{}
		err := conn.Invoke(ctx, method, wrapperspb.String(""), reply)
		cancel()
		r := result{OK: err == nil, Backend: reply.GetValue()}
		if err != nil {
			s, _ := status.FromError(err)
			r.Code, r.Message = int(s.Code()), s.Message()
		}
		_ = out.Encode(r)
		time.Sleep(interval)
	}
}

func server(args []string) {
	flags := flag.NewFlagSet("server", flag.ExitOnError)
	port := flags.Int("port", 50051, "port to listen on (every address)")
	name := flags.String("name", "greeter", "name to answer with")
	_ = flags.Parse(args)
	lis, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "meshcp.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Who", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			if err := dec(&wrapperspb.StringValue{}); err != nil {
				return nil, err
			}
			return wrapperspb.String(*name), nil
		}}},
	}, struct{}{})
	fmt.Printf("%s listening on :%d\n", *name, *port)
	_ = srv.Serve(lis)
}

func main() {
	switch {
	case len(os.Args) >= 2 && os.Args[1] == "server":
		server(os.Args[2:])
	case len(os.Args) >= 3 && os.Args[1] == "client":
		count, intervalMs := 1, 0
		if len(os.Args) >= 4 {
			count, _ = strconv.Atoi(os.Args[3])
		}
		if len(os.Args) >= 5 {
			intervalMs, _ = strconv.Atoi(os.Args[4])
		}
		client(os.Args[2], count, time.Duration(intervalMs)*time.Millisecond)
	default:
		fmt.Fprintln(os.Stderr, "usage: demo-grpc server [--port N] [--name X] | client xds:///service.namespace:port [COUNT [INTERVAL_MS]]")
		os.Exit(2)
	}
}
