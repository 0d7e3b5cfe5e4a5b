# The service image: `provenance api`, `provenance worker` or `provenance serve`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY provenance ./provenance
COPY api ./api
COPY streams ./streams
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 provenance
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER provenance
WORKDIR /home/provenance
ENV PYTHONUNBUFFERED=1 \
    PROVENANCE_LOG_FORMAT=json
# 8000: the API; 6066: the worker's /readyz
EXPOSE 8000 6066
ENTRYPOINT ["provenance"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
