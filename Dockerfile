# The sluice binary in a distroless image: no shell, non-root. The build
# mirrors `make release`: no cgo, but the GPU trainer loads libcuda at run
# time (purego), so the binary needs the dynamic loader and glibc, which
# distroless/base has (the NVIDIA container runtime mounts libcuda.so.1 in).
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sluice ./cmd/sluice

FROM gcr.io/distroless/base-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
USER nonroot:nonroot
EXPOSE 8080 8081 9464
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["--help"]
