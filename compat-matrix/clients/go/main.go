// The meshcp matrix's proxyless gRPC test program for grpc-go: a client that dials
// an xds:/// target and runs the RPCs it is told to on stdin, and a plain server
// that answers with its own name. Messages are google.protobuf.StringValue so every
// language's program talks to every other without generated code.
//
//	client: meshcp-grpc-go client xds:///echo.shop:50051   (needs GRPC_XDS_BOOTSTRAP)
//	        stdin "call COUNT TIMEOUT_MS [PAYLOAD]" → one JSON line per RPC, then {"done":COUNT}
//	server: meshcp-grpc-go server --port 50051 --name v1 [--fail]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and the xDS balancers
)

const method = "/meshcp.test.Echo/Who"

type result struct {
	OK      bool    `json:"ok"`
	Backend string  `json:"backend,omitempty"`
	Code    int     `json:"code,omitempty"`
	Message string  `json:"message,omitempty"`
	Ms      float64 `json:"ms"`
}

func client(target string) {
	// grpc.Dial (not NewClient) so the same program builds with every grpc-go in the matrix (NewClient is 1.63+).
	conn, err := grpc.Dial(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	out := json.NewEncoder(os.Stdout)
	fmt.Println(`{"ready":true}`)
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.SplitN(strings.TrimSpace(scanner.Text()), " ", 4)
		if len(fields) < 3 || fields[0] != "call" {
			continue
		}
		count, _ := strconv.Atoi(fields[1])
		timeoutMs, _ := strconv.Atoi(fields[2])
		payload := ""
		if len(fields) == 4 {
			payload = fields[3]
		}
		for i := 0; i < count; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond)
			started := time.Now()
			reply := &wrapperspb.StringValue{}
			err := conn.Invoke(ctx, method, wrapperspb.String(payload), reply)
			cancel()
			r := result{Ms: float64(time.Since(started).Microseconds()) / 1000}
			if err == nil {
				r.OK, r.Backend = true, reply.GetValue()
			} else {
				s, _ := status.FromError(err)
				r.Code, r.Message = int(s.Code()), s.Message()
			}
			_ = out.Encode(r)
		}
		fmt.Printf("{\"done\":%d}\n", count)
	}
}

type echo struct {
	name string
	fail bool
}

func (e *echo) who(ctx context.Context, payload string) (string, error) {
	if e.fail {
		return "", status.Errorf(codes.Unavailable, "meshcp-test: %s fails on purpose", e.name)
	}
	if ms, ok := strings.CutPrefix(payload, "sleep="); ok {
		d, _ := strconv.Atoi(ms)
		select {
		case <-time.After(time.Duration(d) * time.Millisecond):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return e.name, nil
}

func server(args []string) {
	flags := flag.NewFlagSet("server", flag.ExitOnError)
	port := flags.Int("port", 0, "port to listen on (127.0.0.1)")
	name := flags.String("name", "go", "name to answer with")
	fail := flags.Bool("fail", false, "answer every RPC with UNAVAILABLE")
	_ = flags.Parse(args)
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	impl := &echo{name: *name, fail: *fail}
	srv := grpc.NewServer()
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "meshcp.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Who", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := &wrapperspb.StringValue{}
			if err := dec(in); err != nil {
				return nil, err
			}
			name, err := impl.who(ctx, in.GetValue())
			if err != nil {
				return nil, err
			}
			return wrapperspb.String(name), nil
		}}},
	}, impl)
	fmt.Printf("{\"listening\":%d}\n", lis.Addr().(*net.TCPAddr).Port)
	_ = srv.Serve(lis)
}

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "client" {
		client(os.Args[2])
		return
	}
	if len(os.Args) >= 2 && os.Args[1] == "server" {
		server(os.Args[2:])
		return
	}
	fmt.Fprintln(os.Stderr, "usage: client xds:///TARGET | server --port N --name NAME [--fail]")
	os.Exit(2)
}
