# orguard container image: build with the same cargo command CI uses, run as non-root.
#
#   docker build -t orguard .
#   docker run -p 8080:8080 -e OPENROUTER_API_KEY=... -e ORGUARD_SERVER__LISTEN=0.0.0.0:8080 orguard
#
# Config: the example config is baked in at /etc/orguard/orguard.toml; mount your own over it
# (ConfigMap) or override single keys with ORGUARD_<SECTION>__<KEY> env vars.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
# Cargo reads every target the manifest declares (the benches) even to build one binary.
COPY benches ./benches
RUN cargo build --release --locked --bin orguard

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/orguard /orguard
COPY config/orguard.toml /etc/orguard/orguard.toml
ENV ORGUARD_CONFIG=/etc/orguard/orguard.toml \
    ORGUARD_SERVER__LISTEN=0.0.0.0:8080
USER nonroot:nonroot
EXPOSE 8080
STOPSIGNAL SIGTERM
# Probes: GET /healthz (liveness), GET /readyz (readiness). distroless has no shell or curl,
# so use the orchestrator's HTTP probes rather than a HEALTHCHECK command.
RUN ["/orguard", "--version"]
ENTRYPOINT ["/orguard"]
CMD ["serve"]
