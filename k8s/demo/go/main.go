// The Go member of meshcp's four-language demo (k8s/demo/README.md): an HTTP
// service on :8080 that tells who called it (GET /) and calls another service
// by name (GET /call?to=host:port) with plain net/http, no proxy settings.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

var app = envOr("APP_NAME", "go")

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func main() {
	client := &http.Client{Timeout: 5 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { reply(w, 200, map[string]bool{"ok": true}) })
	mux.HandleFunc("/call", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("to")
		resp, err := client.Get("http://" + to + "/")
		if err != nil {
			reply(w, 502, map[string]any{"from": app, "to": to, "error": err.Error()})
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body any
		if json.Unmarshal(raw, &body) != nil {
			body = string(raw)
		}
		status := 200
		if resp.StatusCode >= 300 {
			status = 502
		}
		reply(w, status, map[string]any{"from": app, "to": to, "status": resp.StatusCode, "reply": body})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		peer, _, _ := net.SplitHostPort(r.RemoteAddr)
		reply(w, 200, map[string]string{
			"app": app, "language": "go", "peer": peer, "host": r.Host,
			"requestId": r.Header.Get("x-request-id"), "clientCert": r.Header.Get("x-forwarded-client-cert"),
		})
	})
	port := envOr("PORT", "8080")
	fmt.Printf("%s (go) listening on :%s\n", app, port)
	log.Fatal(http.ListenAndServe(":"+port, mux))
}
