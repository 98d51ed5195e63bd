// Checks Grafana dashboard JSON against Grafana's own dashboard schema, as the
// Grafana Foundation SDK (github.com/grafana/grafana-foundation-sdk/go, types
// generated from Grafana's schema) reads it: strict decoding (an unknown or
// misspelt field, or a wrong type, is an error — in the dashboard and in each
// panel's options and field config, for the panel plugins the SDK knows), then
// the SDK's Validate (required fields, constraints).
//
//	meshcp-grafana-schema DASHBOARD.json...   → "ok: FILE (N panels)" per file, or the errors and exit 1
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// failedWith: the SDK returns its error list as an error even when the list is empty.
func failedWith(err error) bool {
	var list cog.BuildErrors
	if errors.As(err, &list) {
		return len(list) > 0
	}
	return err != nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: meshcp-grafana-schema DASHBOARD.json...")
		os.Exit(2)
	}
	// Panel types (timeseries, stat, …) decode their options and field config strictly too.
	plugins.RegisterDefaultPlugins()
	failed := false
	for _, file := range os.Args[1:] {
		raw, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var board dashboard.Dashboard
		if err := board.UnmarshalJSONStrict(raw); failedWith(err) {
			fmt.Printf("%s: schema: %v\n", file, err)
			failed = true
			continue
		}
		if err := board.Validate(); failedWith(err) {
			fmt.Printf("%s: validate: %v\n", file, err)
			failed = true
			continue
		}
		fmt.Printf("ok: %s (%d panels)\n", file, len(board.Panels))
	}
	if failed {
		os.Exit(1)
	}
}
