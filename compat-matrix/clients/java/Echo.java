// The meshcp matrix's proxyless gRPC test program for grpc-java (io.grpc:grpc-xds).
//
//   client: java -cp … Echo client xds:///echo.shop:50051   (needs GRPC_XDS_BOOTSTRAP)
//           stdin "call COUNT TIMEOUT_MS [PAYLOAD]" → one JSON line per RPC, then {"done":COUNT}
//   server: java -cp … Echo server --port 50051 --name v1 [--fail]
//
// Messages are google.protobuf.StringValue so every language's program talks to every other.
import com.google.protobuf.StringValue;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

public final class Echo {
  static final MethodDescriptor<StringValue, StringValue> WHO =
      MethodDescriptor.<StringValue, StringValue>newBuilder()
          .setType(MethodDescriptor.MethodType.UNARY)
          .setFullMethodName("meshcp.test.Echo/Who")
          .setRequestMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
          .setResponseMarshaller(ProtoUtils.marshaller(StringValue.getDefaultInstance()))
          .build();

  static String quote(String text) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : text.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }

  static void client(String target) throws Exception {
    ManagedChannel channel = Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
    System.out.println("{\"ready\":true}");
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    String line;
    while ((line = in.readLine()) != null) {
      String[] fields = line.trim().split(" ", 4);
      if (fields.length < 3 || !fields[0].equals("call")) continue;
      int count = Integer.parseInt(fields[1]);
      long timeoutMs = Long.parseLong(fields[2]);
      String payload = fields.length == 4 ? fields[3] : "";
      for (int i = 0; i < count; i++) {
        long started = System.nanoTime();
        String result;
        try {
          StringValue reply =
              ClientCalls.blockingUnaryCall(
                  channel, WHO, CallOptions.DEFAULT.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS), StringValue.of(payload));
          result = "{\"ok\":true,\"backend\":" + quote(reply.getValue());
        } catch (StatusRuntimeException e) {
          String message = e.getStatus().getDescription();
          result = "{\"ok\":false,\"code\":" + e.getStatus().getCode().value() + ",\"message\":" + quote(message == null ? "" : message);
        }
        System.out.println(result + ",\"ms\":" + ((System.nanoTime() - started) / 1000) / 1000.0 + "}");
      }
      System.out.println("{\"done\":" + count + "}");
      System.out.flush();
    }
    channel.shutdownNow();
  }

  static void server(String[] args) throws Exception {
    int port = 0;
    String name = "java";
    boolean fail = false;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equals("--port")) port = Integer.parseInt(args[++i]);
      else if (args[i].equals("--name")) name = args[++i];
      else if (args[i].equals("--fail")) fail = true;
    }
    final String me = name;
    final boolean failing = fail;
    ServerServiceDefinition service =
        ServerServiceDefinition.builder("meshcp.test.Echo")
            .addMethod(
                WHO,
                ServerCalls.asyncUnaryCall(
                    (request, observer) -> {
                      if (failing) {
                        observer.onError(Status.UNAVAILABLE.withDescription("meshcp-test: " + me + " fails on purpose").asRuntimeException());
                        return;
                      }
                      String payload = request.getValue();
                      if (payload.startsWith("sleep=")) {
                        try {
                          Thread.sleep(Long.parseLong(payload.substring(6)));
                        } catch (InterruptedException e) {
                          Thread.currentThread().interrupt();
                        }
                      }
                      observer.onNext(StringValue.of(me));
                      observer.onCompleted();
                    }))
            .build();
    Server server =
        Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).addService(service).build().start();
    System.out.println("{\"listening\":" + server.getPort() + "}");
    System.out.flush();
    server.awaitTermination();
  }

  public static void main(String[] args) throws Exception {
    if (args.length >= 2 && args[0].equals("client")) client(args[1]);
    else if (args.length >= 1 && args[0].equals("server")) server(args);
    else {
      System.err.println("usage: client xds:///TARGET | server --port N --name NAME [--fail]");
      System.exit(2);
    }
  }
}
