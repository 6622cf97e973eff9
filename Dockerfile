# syntax=docker/dockerfile:1
# The Tidemark controller image. Build and push (README "Installing on GKE"):
#   docker build -t REGION-docker.pkg.dev/PROJECT/tidemark/tidemark:0.1.0 .
#   docker push REGION-docker.pkg.dev/PROJECT/tidemark/tidemark:0.1.0
# Runs `node dist/cli/main.js controller` as an unprivileged user (uid 1000), with production dependencies only;
# the GCS emulator, the local cluster and the playground are not in the image.
# test/unit/dockerfile.test.ts checks that this file parses and that everything it copies exists.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# --ignore-scripts: the prepare script (tsc) needs the sources, which come next.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY bin ./bin
RUN npm run build \
 && rm -rf dist/emulator dist/localcluster dist/playground \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The CRDs: the offline validator (`tidemark plan`) reads their schemas at run time.
COPY crds/tidemark.dev_checkpointpolicies.yaml crds/tidemark.dev_checkpoints.yaml ./crds/
# The image's "node" user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["controller"]
