// The e2e program for proxyless gRPC mesh mTLS (gRFC A29) with grpc-java: a client that
// takes its security from xDS (XdsChannelCredentials, plaintext as the fallback when xDS
// sends no TLS), speaking the matrix programs' stdin protocol (compat-matrix/clients/java).
//
//   java -cp … MtlsEcho client xds:///echo.shop:50051   (GRPC_XDS_BOOTSTRAP)
//   stdin "call COUNT TIMEOUT_MS" → one JSON line per RPC, then {"done":COUNT}
import com.google.protobuf.StringValue;
import io.grpc.CallOptions;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.xds.XdsChannelCredentials;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.concurrent.TimeUnit;

public final class MtlsEcho {
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

  public static void main(String[] args) throws Exception {
    if (args.length < 2 || !args[0].equals("client")) {
      System.err.println("usage: client xds:///TARGET");
      System.exit(2);
    }
    ManagedChannel channel =
        Grpc.newChannelBuilder(args[1], XdsChannelCredentials.create(InsecureChannelCredentials.create())).build();
    System.out.println("{\"ready\":true}");
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    String line;
    while ((line = in.readLine()) != null) {
      String[] fields = line.trim().split(" ");
      if (fields.length < 3 || !fields[0].equals("call")) continue;
      int count = Integer.parseInt(fields[1]);
      long timeoutMs = Long.parseLong(fields[2]);
      for (int i = 0; i < count; i++) {
        long started = System.nanoTime();
        String result;
        try {
          StringValue reply =
              ClientCalls.blockingUnaryCall(
                  channel, WHO, CallOptions.DEFAULT.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS), StringValue.of(""));
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
}
