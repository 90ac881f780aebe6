# Node 24 LTS on Debian (glibc): the Node the project's npm scripts run on (the `node` dev
# dependency) is built for glibc, so tests and image run the same runtime. Pinned by tag; to pin
# the digest as well, read it with `docker buildx imagetools inspect node:24.21.0-bookworm-slim`
# and write `FROM node:24.21.0-bookworm-slim@sha256:<digest>`. To update, change the version here
# and in package.json's `node` dev dependency together.
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24.21.0-bookworm-slim
# VERSION is package.json's version, REVISION the commit and SOURCE_URL where the repository is;
# the project records no repository address, so the build passes it (docs/deployment.md).
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE_URL=
LABEL org.opencontainers.image.title="card-approval-worker" \
      org.opencontainers.image.description="Card-approval worker: Kafka card-operation requests become approval records, approver emails, decisions and outcome events." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}"
WORKDIR /app
# NODE_ENV=production: every setting production needs must be given. HTTP_HOST: the worker listens
# on loopback by default, which no probe or Service reaches from outside the container. The heap:
# V8's old generation is half the memory the process may use (the container's limit where it has
# one, else the machine's), for every node process of the image (the worker, the migration, the
# CLI). At a 320 MiB limit that is the 160 MB the benchmarks ran with (BENCHMARKS.md). The young
# generation is fixed at 16 MB a semi-space: left to V8, it grows with the machine's memory, and
# its committed pages count against the old generation's limit (docs/deployment.md).
ENV NODE_ENV=production
ENV HTTP_HOST=0.0.0.0
ENV NODE_OPTIONS="--max-old-space-size-percentage=50 --max-semi-space-size=16"
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY templates ./templates
USER node
# HTTP_PORT's default: health, metrics, the API and the approvers' page.
EXPOSE 8080
# Liveness: the process answers. The image has Node and no curl or wget. Kubernetes ignores this
# and uses the Deployment's probes (deploy/kubernetes).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.HTTP_PORT || 8080}/health/live`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The migration command, run before each rollout as the migrator role:
#   node dist/entry-points/cli/migrate.js
# TimeoutNegativeWarning: kafkajs 2.2.4 schedules a negative timeout (kafkajs#1751), which Node 24
# reports and runs after 1 ms, as Node 20 did silently.
CMD ["node", "--disable-warning=TimeoutNegativeWarning", "dist/main.js"]
