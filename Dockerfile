# syntax=docker/dockerfile:1
# Palisade edge image. UNTESTED here: no Docker engine runs on the machine this
# was written on; `docker build .` and `docker compose up` are the first checks.
#
#   docker build -t palisade .
#   docker run --init --read-only --tmpfs /tmp -v palisade-data:/data \
#     -e PALISADE_HOST=0.0.0.0 -e CLICKHOUSE_URL=http://clickhouse:8123 -p 8443:8443 palisade
#
# Signals: Node as PID 1 does not reap zombies and gets no default SIGTERM
# handling; Palisade installs its own SIGTERM handler (drain, flush, close the
# spool), and `tini` below reaps and forwards signals. `docker run --init` does
# the same if you build without tini.
#
# The embedded engine: chdb is a regular dependency (the no-server default), so
# `npm ci --omit=dev` still installs it and its ~540 MB library. The image runs
# against a ClickHouse server when CLICKHOUSE_URL is set and then never loads
# chdb (it is imported only by the embedded adapter), but the bytes are in the
# image. Dropping them needs chdb moved to optionalDependencies and
# `--omit=optional` here; not done, to keep `npm install && npm start` working.

ARG NODE_VERSION=20

# ---- dependencies: production only, native modules built/downloaded here ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
# argon2 ships prebuilt binaries; python3/make/g++ are the fallback for node-gyp.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim
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
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
# Source runs through tsx (no build step); the browser SDK's dist is committed.
COPY --chown=root:root package.json package-lock.json tsconfig.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root src ./src
COPY --chown=root:root schemas ./schemas
COPY --chown=root:root sdk ./sdk
COPY --chown=root:root ops ./ops
# The app is owned by root and read-only to the service; only /data (a volume) and
# /tmp (tsx's compile cache: mount a tmpfs with --read-only) are written.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
USER node
VOLUME ["/data"]
EXPOSE 8443 8444
# No curl in the image: node itself asks the API listener's /healthz (self-signed
# certificates are the default, so the check does not verify the certificate;
# `palisade doctor` does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "require('node:https').get({host:'127.0.0.1',port:process.env.PALISADE_PORT||8443,path:'/healthz',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/palisade.js"]
CMD ["serve"]
