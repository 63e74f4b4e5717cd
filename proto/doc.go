// Package proto holds the project's protocol-buffer definitions and, in its subpackages, their
// generated Go code (committed, so building needs no protoc):
//
//   - linkpb: the party-to-party Link service (share messages between the parties of a session);
//   - partypb: the client-facing Party service, model-share Provision service and shared types.
//
// Parties also serve the standard gRPC health service (grpc.health.v1).
//
// To regenerate after editing a .proto file, run `go generate ./proto/...` (see generate.sh: it
// needs protoc from Debian's protobuf-compiler and installs the pinned Go plugins).
package proto

//go:generate ./generate.sh
