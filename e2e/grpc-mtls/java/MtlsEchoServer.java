// The e2e program for proxyless gRPC mesh mTLS (gRFC A29) and RBAC (gRFC A41) with a
// grpc-java xDS-enabled server (gRFC A36): XdsServerBuilder with XdsServerCredentials,
// plaintext as the fallback when xDS sends no TLS, so what meshcp's Listener says decides.
// It answers meshcp.test.Echo/Who like the grpc-go server (e2e/grpc-mtls/go/main.go):
// "<name> saw <caller SPIFFE ID>", the caller's ID read from the TLS session.
//
//   java -cp … MtlsEchoServer --port N --name NAME   (GRPC_XDS_BOOTSTRAP)
//   stdout: {"listening":N}, then {"mode":"SERVING"} / {"mode":"NOT_SERVING"} on each change
import com.google.protobuf.StringValue;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ServerCalls;
import io.grpc.xds.XdsServerBuilder;
import io.grpc.xds.XdsServerCredentials;
import java.net.InetSocketAddress;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

public final class MtlsEchoServer {
  static final MethodDescriptor<StringValue, StringValue> WHO =
      MethodDescriptor.<StringValue, StringValue>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName("meshcp.test.Echo/Who")
          .setRequestMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
          .build();

  static final Context.Key<String> CALLER = Context.key("caller");

  /** The peer's SPIFFE ID (its certificate's URI SAN) over TLS, "plaintext" otherwise. */
  static String identityOf(SSLSession session) {
    if (session == null) return "plaintext";
    try {
      Certificate[] chain = session.getPeerCertificates();
      if (chain.length == 0 || !(chain[0] instanceof X509Certificate)) return "tls-without-peer-identity";
      Collection<List<?>> names = ((X509Certificate) chain[0]).getSubjectAlternativeNames();
      if (names != null)
        for (List<?> name : names)
          if (name.size() >= 2 && Integer.valueOf(6).equals(name.get(0))) return String.valueOf(name.get(1));
      return "tls-without-peer-identity";
    } catch (SSLPeerUnverifiedException e) {
      return "tls-without-peer-identity";
    } catch (Exception e) {
      return "tls-unreadable-peer: " + e.getMessage();
    }
  }

  public static void main(String[] args) throws Exception {
    int port = 0;
    String name = "java-server";
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (args[i].equals("--port")) port = Integer.parseInt(args[i + 1]);
      else if (args[i].equals("--name")) name = args[i + 1];
    }
    if (port == 0) {
      System.err.println("usage: --port N [--name NAME]");
      System.exit(2);
    }
    final String serverName = name;
    ServerServiceDefinition echo =
        ServerServiceDefinition.builder("meshcp.test.Echo")
            .addMethod(
                WHO,
                ServerCalls.asyncUnaryCall(
                    (request, response) -> {
                      response.onNext(StringValue.of(serverName + " saw " + CALLER.get()));
                      response.onCompleted();
                    }))
            .build();
    // The caller's identity comes from the call's transport attributes: put it in the context for the handler.
    ServerInterceptor identity =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            String caller = identityOf(call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION));
            return Contexts.interceptCall(Context.current().withValue(CALLER, caller), call, headers, next);
          }
        };
    // Bound to loopback only (a test); grpc-java 1.85 still asks for the Listener of 0.0.0.0:PORT and
    // accepts only one whose address is 0.0.0.0 (meshcp serves it for the workload's own service).
    Server server =
        XdsServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", port), XdsServerCredentials.create(InsecureServerCredentials.create()))
            .xdsServingStatusListener(
                new XdsServerBuilder.XdsServingStatusListener() {
                  @Override
                  public void onServing() {
                    System.out.println("{\"mode\":\"SERVING\"}");
                    System.out.flush();
                  }

                  @Override
                  public void onNotServing(Throwable error) {
                    System.err.println("not serving: " + error);
                    System.out.println("{\"mode\":\"NOT_SERVING\"}");
                    System.out.flush();
                  }
                })
            .addService(ServerInterceptors.intercept(echo, identity))
            .build();
    server.start();
    System.out.println("{\"listening\":" + port + "}");
    System.out.flush();
    Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
    server.awaitTermination();
  }
}
