# One image for every service; the command picks which one runs.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN useradd --create-home --uid 10001 app

# Dependencies first, in a layer of their own, so code changes don't reinstall them.
COPY pyproject.toml ./
RUN mkdir -p services shared cli && touch services/__init__.py shared/__init__.py cli/__init__.py \
    && pip install . && pip uninstall -y backtester

COPY services ./services
COPY domain ./domain
COPY shared ./shared
COPY cli ./cli
RUN pip install --no-deps .

USER app
CMD ["python", "-m", "services.api"]
