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
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY templates ./templates
USER node
# TimeoutNegativeWarning: kafkajs 2.2.4 schedules a negative timeout (kafkajs#1751), which Node 24
# reports and runs after 1 ms, as Node 20 did silently.
CMD ["node", "--max-old-space-size=160", "--disable-warning=TimeoutNegativeWarning", "dist/main.js"]
