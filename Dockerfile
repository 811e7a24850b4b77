# syntax=docker/dockerfile:1
# wa-crm-sync image: built in one stage (compilers for better-sqlite3, dev dependencies for tsc),
# run from a second stage with production dependencies only, as the unprivileged user "node".
# test/deploy/container.test.ts checks this file, and deploy/build-steps.sh runs its build steps
# (npm ci, build, prune) outside a container, as CI does where no container runtime is at hand.

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY core ./core
COPY connectors ./connectors
COPY server ./server
COPY sandbox ./sandbox
# npm ci runs "prepare", which compiles the TypeScript into dist/.
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/server/dashboard ./server/dashboard
COPY wa-crm-sync.example.yaml ./wa-crm-sync.example.yaml
COPY deploy/docker/wa-crm-sync.yaml /config/wa-crm-sync.yaml
# The store, media and backups live in /data, the one place the service writes.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000
# /readyz: up and the store reachable (503 otherwise). PORT matches server.port in the config.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# The heap flags and malloc arenas of bin/wa-crm-sync.js and npm start; SIGTERM reaches node directly (exec form).
ENV MALLOC_ARENA_MAX=2
ENTRYPOINT ["node", "--max-semi-space-size=4", "--max-old-space-size=256", "bin/wa-crm-sync.js"]
CMD ["start", "--config", "/config/wa-crm-sync.yaml"]
