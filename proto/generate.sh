#!/usr/bin/env bash
# Regenerates the Go code for every .proto file under proto/. Run through `go generate ./proto/...`
# or directly from any directory. Needs protoc (Debian's protobuf-compiler) and installs the pinned
# Go plugins into a private bin directory, so a fresh machine can regenerate byte-identical code.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v protoc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "generate.sh: installing protoc (protobuf-compiler)" >&2
		apt-get update -qq && apt-get install -y -qq protobuf-compiler >/dev/null
	else
		echo "generate.sh: protoc not found; install it with: apt-get install -y protobuf-compiler" >&2
		exit 1
	fi
fi

bin="${MPCACHE_PROTOC_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/mpcache/protoc-bin}"
mkdir -p "$bin"
if [ "$("$bin/protoc-gen-go" --version 2>/dev/null || true)" != "protoc-gen-go $PROTOC_GEN_GO_VERSION" ]; then
	GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if [ "$("$bin/protoc-gen-go-grpc" --version 2>/dev/null || true)" != "protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}" ]; then
	GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

cd "$here"
protos=(linkpb/link.proto partypb/common.proto partypb/party.proto partypb/provision.proto)
protoc -I . \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	"${protos[@]}"
echo "generate.sh: generated code for ${protos[*]} (protoc $(protoc --version | cut -d' ' -f2))" >&2
