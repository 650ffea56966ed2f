# The xfollow-mcp container image, built from source:
#   docker build --build-arg VERSION=$(cat VERSION) -t xfollow-mcp .
# A release publishes the same final stage around the release binaries
# (Dockerfile.release, through goreleaser's dockers_v2). The rules both
# files keep (internal/release/image_test.go holds them): a static binary
# built with -trimpath, the distroless static base running as nonroot
# (uid 65532), the binary as the ENTRYPOINT, streamable HTTP on 8080 by
# default, and the MCP registry's name label matching server.json.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/xfollow-mcp .

FROM gcr.io/distroless/static-debian12:nonroot
LABEL io.modelcontextprotocol.server.name="io.github.xfollow-mcp/xfollow-mcp" \
      org.opencontainers.image.source="https://github.com/xfollow-mcp/xfollow-mcp" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/xfollow-mcp /xfollow-mcp
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/xfollow-mcp"]
# Listening beyond loopback needs a caller check: set XFOLLOW_HTTP_TOKEN, or
# add --key-from-request (each request brings its caller's AIsa key).
CMD ["--http", "0.0.0.0:8080"]
