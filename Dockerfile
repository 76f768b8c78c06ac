# The sluice binary in a distroless image: static, no shell, non-root.
# The build mirrors `make release`.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sluice ./cmd/sluice

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sluice /usr/local/bin/sluice
USER nonroot:nonroot
EXPOSE 8080 8081 9464
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["--help"]
