# syntax=docker/dockerfile:1
# Palisade edge image: the built service (`npm run build`, no tsx) with
# production dependencies only, against a ClickHouse server (CLICKHOUSE_URL).
# No Docker engine runs on the machine this was written on, so the image has
# never been built here; test/image.int.test.ts does what it does instead
# (these COPY lines, the same npm commands, the built entry point, the
# HEALTHCHECK command) and test/deploy-files.test.ts lints this file.
#
#   docker build -t palisade .
#   docker run --read-only -v palisade-data:/data \
#     -e CLICKHOUSE_URL=http://clickhouse:8123 -p 8443:8443 palisade
#   docker exec <container> node dist/src/cli/entry.cjs doctor     # any CLI command
#
# The embedded engine is not in the image: chdb is an optional dependency and
# `npm ci --omit=optional` leaves out its ~540 MB library. Without
# CLICKHOUSE_URL the server stops at start with "install chdb or set
# CLICKHOUSE_URL" (exit 2).
#
# Signals: tini is PID 1, reaps zombies and forwards SIGTERM to node, which
# drains, flushes and closes the spool within PALISADE_SHUTDOWN_DEADLINE_MS
# (exit 0). Read-only root: the service writes only under /data (spool,
# secrets, TLS certificate, backups registry); nothing under /tmp.

ARG NODE_VERSION=20

# ---- build: every dependency (TypeScript), then `npm run build` → dist/ ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# tsc needs every package's types (chdb's too) but no install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY src ./src
COPY schemas ./schemas
COPY sdk/browser/dist ./sdk/browser/dist
RUN npm run build

# ---- deps: production dependencies only (no dev tools, no embedded engine) ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
# argon2 ships prebuilt binaries; python3/make/g++ are node-gyp's fallback.
# Debian's stable packages, not pinned: the base image tag fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    PALISADE_DATA_DIR=/data \
    PALISADE_HOST=0.0.0.0 \
    PALISADE_PORT=8443 \
    PALISADE_ADMIN_HOST=0.0.0.0 \
    PALISADE_ADMIN_PORT=8444 \
    PALISADE_LOG_LEVEL=info
# Owned by root and read-only to the service; only /data (a volume) is written.
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8443 8444
# No curl in the image: node itself asks the API listener's /healthz (the
# default certificate is self-signed, so the check does not verify it;
# `palisade doctor` does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "require('node:https').get({host:'127.0.0.1',port:process.env.PALISADE_PORT||8443,path:'/healthz',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
# A 64 MiB young generation: V8's scavenger then runs far less often under
# ingest load (-10 % CPU per event, +8 % requests/s here); README "Performance".
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=64", "dist/src/cli/entry.cjs"]
CMD ["serve"]
