// The Java member of meshcp's four-language demo (k8s/demo/README.md): an HTTP
// service on :8080 that tells who called it (GET /) and calls another service
// by name (GET /call?to=host:port) with java.net.http, no proxy settings.
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;

public final class Server {
  private static final String APP = System.getenv().getOrDefault("APP_NAME", "java");
  private static final HttpClient CLIENT =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .proxy(HttpClient.Builder.NO_PROXY)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  private static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') out.append('\\').append(c);
      else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
      else out.append(c);
    }
    return out.append('"').toString();
  }

  private static String header(HttpExchange exchange, String name) {
    String value = exchange.getRequestHeaders().getFirst(name);
    return value == null ? "" : value;
  }

  private static void reply(HttpExchange exchange, int status, String json) throws IOException {
    byte[] data = (json + "\n").getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("content-type", "application/json");
    exchange.sendResponseHeaders(status, data.length);
    exchange.getResponseBody().write(data);
    exchange.close();
  }

  private static void handle(HttpExchange exchange) throws IOException {
    URI uri = exchange.getRequestURI();
    String path = uri.getPath();
    if (path.equals("/healthz")) {
      reply(exchange, 200, "{\"ok\":true}");
      return;
    }
    if (path.equals("/call")) {
      String to = "";
      String query = uri.getRawQuery() == null ? "" : uri.getRawQuery();
      for (String pair : query.split("&")) {
        if (pair.startsWith("to=")) to = URLDecoder.decode(pair.substring(3), StandardCharsets.UTF_8);
      }
      try {
        HttpResponse<String> upstream =
            CLIENT.send(
                HttpRequest.newBuilder(URI.create("http://" + to + "/")).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString());
        String body = upstream.body().trim();
        String replyJson = body.startsWith("{") ? body : quote(body);
        reply(
            exchange,
            upstream.statusCode() < 300 ? 200 : 502,
            "{\"from\":" + quote(APP) + ",\"to\":" + quote(to) + ",\"status\":" + upstream.statusCode() + ",\"reply\":" + replyJson + "}");
      } catch (Exception error) {
        reply(exchange, 502, "{\"from\":" + quote(APP) + ",\"to\":" + quote(to) + ",\"error\":" + quote(String.valueOf(error)) + "}");
      }
      return;
    }
    String peer = exchange.getRemoteAddress().getAddress().getHostAddress();
    reply(
        exchange,
        200,
        "{\"app\":" + quote(APP) + ",\"language\":\"java\",\"peer\":" + quote(peer)
            + ",\"host\":" + quote(header(exchange, "Host"))
            + ",\"requestId\":" + quote(header(exchange, "x-request-id"))
            + ",\"clientCert\":" + quote(header(exchange, "x-forwarded-client-cert")) + "}");
  }

  public static void main(String[] args) throws IOException {
    int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
    HttpServer server = HttpServer.create(new InetSocketAddress(port), 64);
    server.createContext("/", exchange -> {
      try {
        handle(exchange);
      } catch (IOException | RuntimeException error) {
        exchange.close();
      }
    });
    server.setExecutor(Executors.newFixedThreadPool(8));
    server.start();
    System.out.println(APP + " (java) listening on :" + port);
  }
}
