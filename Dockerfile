# syntax=docker/dockerfile:1
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/venv/bin/messenger-insights-exporter --help > /dev/null

FROM python:3.11.11-slim-bookworm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /etc/messenger-insights-exporter
USER 65534:65534
EXPOSE 10490
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:10490/-/healthy', timeout=4)"]
ENTRYPOINT ["messenger-insights-exporter"]
CMD ["--config.file=/etc/messenger-insights-exporter/config.yaml"]
