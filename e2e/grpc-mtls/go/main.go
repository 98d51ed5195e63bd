// The e2e program for proxyless gRPC mesh mTLS (gRFC A29) with grpc-go: the matrix
// program's stdin protocol (compat-matrix/clients/go), but both ends take their
// security from xDS — the client dials with xDS credentials, the server is an
// xDS-enabled server (gRFC A36) with xDS credentials. The fallback credentials are
// plaintext: what xDS sends decides, which is what the tests check.
//
//	client: grpcmtls client xds:///echo.shop:50051   (GRPC_XDS_BOOTSTRAP)
//	        stdin "call COUNT TIMEOUT_MS" → {"ok":true,"backend":"<name> saw <client SPIFFE ID> | server <server SPIFFE ID>"} per RPC
//	server: grpcmtls server --port N --name NAME     (GRPC_XDS_BOOTSTRAP; answers with the caller's SPIFFE ID)
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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const method = "/meshcp.test.Echo/Who"

type result struct {
	OK      bool    `json:"ok"`
	Backend string  `json:"backend,omitempty"`
	Code    int     `json:"code,omitempty"`
	Message string  `json:"message,omitempty"`
	Ms      float64 `json:"ms"`
}

// identityOf names the peer: its SPIFFE ID over TLS, "plaintext" otherwise.
func identityOf(p *peer.Peer) string {
	if p == nil || p.AuthInfo == nil {
		return "plaintext"
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "plaintext"
	}
	if info.SPIFFEID != nil {
		return info.SPIFFEID.String()
	}
	if len(info.State.PeerCertificates) > 0 && len(info.State.PeerCertificates[0].URIs) > 0 {
		return info.State.PeerCertificates[0].URIs[0].String()
	}
	return "tls-without-peer-identity"
}

func client(target string) {
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "credentials:", err)
		os.Exit(2)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(2)
	}
	defer conn.Close()
	out := json.NewEncoder(os.Stdout)
	fmt.Println(`{"ready":true}`)
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 3 || fields[0] != "call" {
			continue
		}
		count, _ := strconv.Atoi(fields[1])
		timeoutMs, _ := strconv.Atoi(fields[2])
		for i := 0; i < count; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutMs)*time.Millisecond)
			started := time.Now()
			reply := &wrapperspb.StringValue{}
			var server peer.Peer
			err := conn.Invoke(ctx, method, wrapperspb.String(""), reply, grpc.Peer(&server))
			cancel()
			r := result{Ms: float64(time.Since(started).Microseconds()) / 1000}
			if err == nil {
				r.OK, r.Backend = true, reply.GetValue()+" | server "+identityOf(&server)
			} else {
				s, _ := status.FromError(err)
				r.Code, r.Message = int(s.Code()), s.Message()
			}
			_ = out.Encode(r)
		}
		fmt.Printf("{\"done\":%d}\n", count)
	}
}

func server(args []string) {
	flags := flag.NewFlagSet("server", flag.ExitOnError)
	port := flags.Int("port", 0, "port to listen on (127.0.0.1)")
	name := flags.String("name", "go", "name to answer with")
	_ = flags.Parse(args)
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "credentials:", err)
		os.Exit(2)
	}
	srv, err := xds.NewGRPCServer(grpc.Creds(creds), xds.ServingModeCallback(func(addr net.Addr, args xds.ServingModeChangeArgs) {
		fmt.Fprintf(os.Stderr, "serving mode of %s: %v %v\n", addr, args.Mode, args.Err)
		fmt.Printf("{\"mode\":%q}\n", args.Mode.String())
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "xds server:", err)
		os.Exit(2)
	}
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(2)
	}
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "meshcp.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Who", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := &wrapperspb.StringValue{}
			if err := dec(in); err != nil {
				return nil, err
			}
			caller, _ := peer.FromContext(ctx)
			return wrapperspb.String(*name + " saw " + identityOf(caller)), nil
		}}},
	}, struct{}{})
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
	fmt.Fprintln(os.Stderr, "usage: client xds:///TARGET | server --port N --name NAME")
	os.Exit(2)
}
