# syntax=docker/dockerfile:1
# r1-judge server images (docs/deploy.md). Targets:
#   cpu     (default) Node 20 slim, CPU sessions.              docker build -t r1judge .
#   webgpu  + the Vulkan loader: R1JUDGE_DEVICE=webgpu, the KV cache stays in GPU memory; needs the
#           NVIDIA runtime's graphics capability.              docker build --target webgpu -t r1judge:webgpu .
#   cuda    CUDA 12 + cuDNN 9 base with onnxruntime-node's CUDA provider (copies the KV cache each step).
#                                                              docker build --target cuda -t r1judge:cuda .
# The demo model is baked in at /app/models/demo; mount another and set R1JUDGE_MODEL.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# ---- build: dev dependencies, TypeScript → dist/ ----
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- production dependencies only ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
# onnxruntime-node ships its library for every platform (~290 MB): keep this one's.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
    && arch=$(node -p process.arch) \
    && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/$arch" -exec rm -rf {} +

# ---- cpu: the default image ----
FROM ${NODE_IMAGE} AS cpu
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    R1JUDGE_HOST=0.0.0.0 \
    R1JUDGE_PORT=8080 \
    R1JUDGE_MODEL=/app/models/demo
WORKDIR /app
COPY --from=deps --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json openapi.yaml ./
COPY --chown=root:root console ./console
COPY --chown=root:root models/demo ./models/demo
# The image's files belong to root and are read-only to the server's user.
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.R1JUDGE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: not ready at once, drains for R1JUDGE_SHUTDOWN_GRACE_MS, exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js", "serve"]

# ---- webgpu: Vulkan loader for onnxruntime's WebGPU provider ----
FROM cpu AS webgpu
USER root
RUN apt-get update && apt-get install -y --no-install-recommends libvulkan1 \
    && rm -rf /var/lib/apt/lists/*
USER node
# The NVIDIA container runtime mounts the driver's Vulkan ICD only with the graphics capability.
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    R1JUDGE_DEVICE=webgpu

# ---- cuda: onnxruntime-node with its CUDA 12 provider ----
FROM ${NODE_IMAGE} AS cuda-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
    && arch=$(node -p process.arch) \
    && find node_modules/onnxruntime-node/bin/napi-v6 -mindepth 2 -maxdepth 2 -type d ! -path "*/linux/$arch" -exec rm -rf {} +

FROM ${NODE_IMAGE} AS node-runtime

FROM ${CUDA_IMAGE} AS cuda
COPY --from=node-runtime /usr/local/bin/node /usr/local/bin/node
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home node
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    R1JUDGE_HOST=0.0.0.0 \
    R1JUDGE_PORT=8080 \
    R1JUDGE_MODEL=/app/models/demo \
    R1JUDGE_DEVICE=cuda \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /app
COPY --from=cuda-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json openapi.yaml ./
COPY console ./console
COPY models/demo ./models/demo
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.R1JUDGE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js", "serve"]

# The default target.
FROM cpu
