# The service image for compose.yaml: one image, run as `orderledger serve|worker|migrate`.
FROM python:3.11-slim
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
WORKDIR /app
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy PATH="/app/.venv/bin:$PATH"
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
COPY workers ./workers
COPY projections ./projections
RUN uv sync --frozen --no-dev
RUN useradd --system --uid 10001 orderledger
USER orderledger
EXPOSE 8000
ENTRYPOINT ["orderledger"]
