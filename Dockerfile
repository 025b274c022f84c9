# syntax=docker/dockerfile:1
#
# The konsul-lb operator image: `npm run image:build` (docker build, tagged konsul-lb:<version>).
# test/packaging/image.test.ts builds this file with buildah and runs the result read-only.
#
# The Node version is the one the project's tests run on (the `node` devDependency in
# package.json). The base is pinned by tag; for builds that must not change when the tag is
# re-pushed (Debian security updates re-push it), pin the digest as well, e.g.
#   ARG NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:<digest>
# with the digest from `docker buildx imagetools inspect node:24.21.0-bookworm-slim`.
# The test checks that the tag's version is package.json's.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---- build: compile src/ to dist/ with the full dev toolchain
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The lockfile alone decides the dependency layer, so source edits reuse it.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies, the compiled code, nothing else
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
# package.json's repository (test/packaging checks that they agree).
ARG SOURCE_URL=https://github.com/konsul-lb/konsul-lb
LABEL org.opencontainers.image.title="konsul-lb" \
      org.opencontainers.image.description="Load-balancing policy as a Kubernetes resource, served over HTTP and DNS" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"

# tini as PID 1: forwards SIGTERM to Node, which then drains in-flight and blocking requests
# and, as leader, writes its last state and releases the Lease (a bare PID 1 ignores signals
# it has no handler for yet, e.g. during startup); it also reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log

# A numeric, non-root user (the chart's runAsUser), with an entry in /etc/passwd so that
# os.userInfo() and friends work; no home directory: the root filesystem may be read-only.
RUN groupadd --gid 10001 konsul-lb \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin konsul-lb

WORKDIR /app
ENV NODE_ENV=production
# --omit=dev leaves out the toolchain and the `node` devDependency (whose install script would
# download a second Node); no production dependency has an install script to run. Type
# declarations and source maps are nearly half of what the dependencies ship (mostly
# @kubernetes/client-node) and nothing reads them at run time.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
COPY --from=build /app/dist ./dist
# The demo catalog: `docker run -p 8080:8080 konsul-lb serve --file /app/examples/demo.yaml`.
COPY examples/demo.yaml ./examples/demo.yaml

# Files stay root-owned and read-only to the process; it writes nothing but may use /tmp.
USER 10001:10001
EXPOSE 8080 5353/udp 5353/tcp
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
# Without arguments: watch the cluster (in-cluster service account), HTTP on 0.0.0.0:8080.
# The chart passes its own: serve --source kubernetes --config /etc/konsul-lb/config.yaml ...
CMD ["serve"]
