# The service image: `provenance api`, `provenance worker` or `provenance serve`.
# Exact versions; pin the digest beside the tag (python:3.11.11-slim@sha256:...) to fix the bytes.
FROM python:3.11.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY provenance ./provenance
COPY api ./api
COPY streams ./streams
COPY cli ./cli
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim
# /keys: a fresh named volume mounted there takes this owner, so the `keys` job can write.
RUN useradd --create-home --uid 10001 provenance \
    && mkdir /keys && chown provenance:provenance /keys
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER provenance
WORKDIR /home/provenance
ENV PYTHONUNBUFFERED=1 \
    PROVENANCE_LOG_FORMAT=json
# 8000: the API; 6066: the worker's /readyz and /metrics
EXPOSE 8000 6066
ENTRYPOINT ["provenance"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
