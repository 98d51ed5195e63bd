// Command descdump writes the protobuf descriptors that the go-control-plane
// "envoy" module registers, for one Envoy API version, so the TypeScript side
// can load the exact API of that version without committing any .proto file.
//
// Output (directory given as the only argument):
//   descriptors.pb  a FileDescriptorSet of every registered file
//   rules.json      protoc-gen-validate rules per message field, as protojson,
//                   because protobufjs cannot decode extension options itself
//
// The blank imports that decide which packages get registered live in
// imports.go, generated per API version by scripts/build-descriptors.mjs.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/envoyproxy/protoc-gen-validate/validate"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

type messageRules struct {
	Fields         map[string]json.RawMessage `json:"fields,omitempty"`
	RequiredOneofs []string                   `json:"requiredOneofs,omitempty"`
	Disabled       bool                       `json:"disabled,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: descdump OUTDIR")
		os.Exit(2)
	}
	outDir := os.Args[1]
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	sort.Slice(files, func(i, j int) bool { return files[i].Path() < files[j].Path() })

	set := &descriptorpb.FileDescriptorSet{}
	rules := map[string]*messageRules{}
	for _, fd := range files {
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
		collectRules(fd.Messages(), rules)
	}
	bytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	must(err)
	must(os.WriteFile(filepath.Join(outDir, "descriptors.pb"), bytes, 0o644))
	rulesJSON, err := json.MarshalIndent(rules, "", " ")
	must(err)
	must(os.WriteFile(filepath.Join(outDir, "rules.json"), rulesJSON, 0o644))
}

func collectRules(messages protoreflect.MessageDescriptors, out map[string]*messageRules) {
	for i := 0; i < messages.Len(); i++ {
		md := messages.Get(i)
		collectRules(md.Messages(), out)
		entry := &messageRules{Fields: map[string]json.RawMessage{}}
		if opts, ok := md.Options().(*descriptorpb.MessageOptions); ok && opts != nil {
			if disabled, ok := proto.GetExtension(opts, validate.E_Disabled).(bool); ok && disabled {
				entry.Disabled = true
			}
		}
		for j := 0; j < md.Oneofs().Len(); j++ {
			oneof := md.Oneofs().Get(j)
			if opts, ok := oneof.Options().(*descriptorpb.OneofOptions); ok && opts != nil {
				if required, ok := proto.GetExtension(opts, validate.E_Required).(bool); ok && required {
					entry.RequiredOneofs = append(entry.RequiredOneofs, string(oneof.Name()))
				}
			}
		}
		for j := 0; j < md.Fields().Len(); j++ {
			field := md.Fields().Get(j)
			opts, ok := field.Options().(*descriptorpb.FieldOptions)
			if !ok || opts == nil || !proto.HasExtension(opts, validate.E_Rules) {
				continue
			}
			fieldRules, ok := proto.GetExtension(opts, validate.E_Rules).(*validate.FieldRules)
			if !ok || fieldRules == nil {
				continue
			}
			encoded, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(fieldRules)
			must(err)
			entry.Fields[string(field.Name())] = encoded
		}
		if len(entry.Fields) > 0 || len(entry.RequiredOneofs) > 0 || entry.Disabled {
			out[string(md.FullName())] = entry
		}
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "descdump:", err)
		os.Exit(1)
	}
}
