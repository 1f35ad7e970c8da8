# syntax=docker/dockerfile:1
#
# The AstroBookings container image: ONE image holding all seven binaries,
#   /usr/local/bin/astro-system   astro-agency   astro-booking   astro-finance
#   /usr/local/bin/astro-notify   astro-gateway  astro-migrate
#
# Why one image and not one per service:
#   - one build and one digest to pin: a release is a single `image@sha256:...` that every
#     Deployment and the migration Job name, so the services and the schema they were compiled
#     against can never drift apart between workloads;
#   - the binaries share ~95% of their dependency graph (tonic, prost, sqlx, the shared kit, the
#     generated contracts), so seven images would build and store that graph seven times for a
#     few MiB of service code each;
#   - each workload picks its binary by exec form in Kubernetes: the Deployment (or the Job) sets
#     `command: ["/usr/local/bin/astro-<svc>"]`. That `command` is the container's exec-form
#     entrypoint; it replaces the image's ENTRYPOINT and drops the image's CMD, so the default
#     below never reaches a pod.
#   This image therefore sets no ENTRYPOINT (no shell in front of anything, and `docker run IMAGE
#   /usr/local/bin/astro-booking` selects a binary the same way `command` does), and its exec-form
#   CMD is a harmless default: `astro-gateway --print-config` prints every setting the gateway
#   reads, with its default, and exits 0 without any configuration.
#
# Why gcr.io/distroless/cc-debian12:nonroot:
#   - the binaries are dynamically linked against glibc and libgcc_s (Rust's std needs both for
#     unwinding); distroless `cc` is exactly that (libc6, libgcc-s1, libstdc++6, libgomp1) plus
#     libssl3, CA certificates, tzdata and /etc/passwd, nothing else: no shell, no package
#     manager, so a compromised process has no tools to live off;
#   - it is Debian 12 like the rust:*-bookworm build stages, so the glibc the binaries were
#     linked against (2.36) is the one they run on. scripts/k8s/image-libs proves statically that
#     the binaries need no library outside that package set and no newer GLIBC symbol.
#   - `:nonroot` runs as UID/GID 65532 ("nonroot" in the image's /etc/passwd, home
#     /home/nonroot): the manifests pin runAsUser/runAsGroup 65532 and runAsNonRoot, which
#     Kubernetes can only verify for a numeric USER, hence `USER 65532:65532` below.
#
# Build (BuildKit): docker build -t astrobookings:dev .
#   --build-arg RUST_VERSION=...   the one Rust toolchain every build stage uses
#   --build-arg VERSION=... REVISION=$(git rev-parse HEAD) CREATED=$(date -u +%FT%TZ)  OCI labels
# Every cargo invocation that resolves dependencies runs with --locked: the build fails instead
# of silently re-resolving when Cargo.lock is out of date. (`cargo chef prepare` copies the
# manifests and Cargo.lock into recipe.json and builds nothing; it takes no --locked flag, and the
# lock it copies is enforced by the --locked cook and build.)

ARG RUST_VERSION=1.95.0

# --- chef: the toolchain and cargo-chef; every build stage starts FROM this one, so all of them
# use the same rust:${RUST_VERSION}-bookworm by construction.
FROM rust:${RUST_VERSION}-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
# No protoc is needed: proto/build.rs and gateway/build.rs compile the contracts with protox
# (pure Rust), and TLS is rustls, so no system library or -dev package is installed either.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# --- planner: reduces the workspace to recipe.json (every member's Cargo.toml and Cargo.lock).
# The recipe changes only when the dependencies do, so the cook layer below stays cached across
# source edits.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# --- builder: cook the dependencies (cached layer), then build the seven binaries.
FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
# Same profile, packages and targets as the real build below, so the dependency artifacts it
# leaves in target/ are reused rather than rebuilt with other features. The registry and git
# checkouts are BuildKit cache mounts (downloads survive even a changed recipe); target/ stays in
# the layer on purpose, because that layer IS what cargo-chef caches.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json --bins \
        -p astro-system -p astro-agency -p astro-booking -p astro-finance -p astro-notify \
        -p astro-gateway -p astro-shared
# The sources. proto/ is read by the build scripts (contracts and descriptor sets) and
# migrations/ is embedded by `sqlx::migrate!` in shared/src/db.rs, so both must be in the
# context (see .dockerignore).
COPY . .
# astro-migrate is the one binary of astro-shared (shared/src/bin/astro-migrate.rs).
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    cargo build --release --locked --bins \
        -p astro-system -p astro-agency -p astro-booking -p astro-finance -p astro-notify \
        -p astro-gateway -p astro-shared \
    && mkdir -p /out \
    && for bin in astro-system astro-agency astro-booking astro-finance astro-notify \
                  astro-gateway astro-migrate; do \
           install -m 0555 "target/release/${bin}" "/out/${bin}" || exit 1; \
       done

# --- web: the four web apps (Angular), which the gateway serves on its own origin. Node 20 as on
# the development machines (Angular 21 supports it); the generated clients are committed, so
# no buf or protoc runs here.
FROM node:20-bookworm AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    NG_CLI_ANALYTICS=false npm ci --no-audit --no-fund
COPY web/ ./
RUN NG_CLI_ANALYTICS=false npm run build

# --- runtime
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="astrobookings" \
      org.opencontainers.image.description="AstroBookings gRPC mesh: astro-system, astro-agency, astro-booking, astro-finance, astro-notify, astro-gateway and astro-migrate in one image; each workload selects its binary with command." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="AstroBookings" \
      org.opencontainers.image.licenses="UNLICENSED" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
# Owned by root and read-only (0555): UID 65532 can run the binaries but not replace them.
COPY --from=builder /out/ /usr/local/bin/
# Read-only for UID 65532, like the binaries: ASTRO_GATEWAY_WEB_DIR in k8s/base/gateway/config.env.
COPY --from=web /src/web/dist/ /usr/share/astrobookings/web/
USER 65532:65532
WORKDIR /home/nonroot
CMD ["/usr/local/bin/astro-gateway", "--print-config"]
