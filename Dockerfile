# syntax=docker/dockerfile:1
# idem's image: `docker build -t idem .`, then `docker run idem` runs `idem consume` (ingester,
# worker and outbox relay in one process). Your handler module goes in an image built FROM this
# one (COPY it, point --handlers or IDEM_HANDLERS at it); the ledger example ships as
# examples/ledger. Configuration comes from the environment (docs/configuration.md).
# What was and was not validated: docs/operations.md, Deployment.

# Debian slim, not Alpine: the Temporal SDK's native core is built for glibc.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: every dependency, the TypeScript build and the workflow bundles (dist/) ---
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install` rather than `npm ci`, as .ci/run explains (the lockfile still fixes the versions).
# No install script is needed to build: `prepare` (the build) runs below, with the sources.
RUN npm install --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY src ./src
COPY examples ./examples
RUN npm run build

# --- deps: production dependencies only ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund --ignore-scripts \
  && npm cache clean --force

# --- runtime: node, production dependencies, the build, idem's migrations; no compiler, no npm cache ---
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# glibc's malloc in 2 arenas, not one per allocating thread: less resident memory (docs/configuration.md).
ENV MALLOC_ARENA_MAX=2
# Blocks of 128 KiB and more mapped and unmapped, not kept in the arenas once freed (configuration.md).
ENV MALLOC_MMAP_THRESHOLD_=131072
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
# idem reads its own migrations from src/store/migrations (the workers apply them at start).
COPY src/store/migrations ./src/store/migrations
# `--handlers examples/ledger` resolves through this package.json to dist/examples/ledger.
COPY examples/ledger/package.json ./examples/ledger/package.json
# The image's `node` user, by number so that Kubernetes' runAsNonRoot can check it.
USER 1000:1000
# /metrics, /live and /ready (IDEM_METRICS_PORT).
EXPOSE 9464
# For Docker and Compose; Kubernetes uses its own probes on the same endpoints (deploy/k8s).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.IDEM_METRICS_PORT || 9464) + '/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/idem.js"]
CMD ["consume"]
