# The conformance binary, static (musl), on an empty base with only the CA certificates that
# TLS verification needs: docker build -t conformance . && docker run --rm conformance
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev ca-certificates
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin conformance && strip target/release/conformance

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/release/conformance /conformance
# Reports and snapshots are written to the working folder: mount yours at /work.
WORKDIR /work
ENTRYPOINT ["/conformance"]
