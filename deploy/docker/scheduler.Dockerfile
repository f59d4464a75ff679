# syntax=docker/dockerfile:1
# Image of the Maestro scheduler service. Build from the repository root:
#   docker build -f deploy/docker/scheduler.Dockerfile -t IMAGE .

# The build stage runs on the builder's own platform and cross-compiles, which is fast and needs
# no emulation on an ARM laptop; Cloud Run runs linux/amd64.
FROM --platform=$BUILDPLATFORM golang:1.26-alpine AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN apk add --no-cache ca-certificates tzdata
WORKDIR /src
COPY . .
# No cgo: the binary is static and runs on an empty image. go build fetches only the modules
# this command imports (not DuckDB's, which only cmd/maestro links). disable_grpc_modules leaves
# out Cloud Storage's gRPC direct path, which Maestro does not use (it talks JSON over HTTP):
# 13 MB of the worker. grpcnotrace leaves out gRPC's golang.org/x/net/trace, whose debug pages
# execute templates: that reflection makes the linker keep every exported method of every
# type, 11 MB of the worker.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -tags disable_grpc_modules,grpcnotrace -ldflags "-s -w" -o /out/maestro-scheduler ./cmd/scheduler

FROM scratch
# TLS to Google APIs needs the CA roots; cron schedules name time zones.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=build /out/maestro-scheduler /maestro-scheduler
# "nonroot" of distroless images: no shell, no root, nothing to escalate to.
USER 65532:65532
ENTRYPOINT ["/maestro-scheduler"]
