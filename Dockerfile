# A small image with the reconciler command: the wheel is built in one stage and installed
# into a virtual environment copied onto a slim Python base; it runs as a non-root user.
#   docker build -t reconciler .
#   docker run --rm -v "$PWD:/work" -w /work reconciler validate clusters/prod.yaml
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/reconciler \
 && /opt/reconciler/bin/pip install --no-cache-dir /wheels/*.whl

FROM python:3.12-slim
COPY --from=build /opt/reconciler /opt/reconciler
RUN useradd --create-home --uid 10001 reconciler
USER reconciler
ENV PATH=/opt/reconciler/bin:$PATH PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["reconciler"]
CMD ["--help"]
