# syntax=docker/dockerfile:1
# One image for every Dispute Desk service; the command chooses what runs (docs/deploying.md):
#   python -m services.<ingest|evidence|deadline|notify|submit|portal_sim> serve
#   python -m services.<name> migrate      python -m deploy.bootstrap      dd topics --partitions 6
#
#   docker build -t dispute-desk:latest .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --------------------------------------------------------------------------- builder: a venv with the project
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/dispute-desk
ENV PATH=/opt/dispute-desk/bin:$PATH
WORKDIR /src
# The metadata first: the dependencies' layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN mkdir -p shared services deploy && pip install . && pip uninstall -y dispute-desk
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
# Not editable: the venv holds the code, so the runtime stage copies the venv alone.
RUN pip install --no-deps . \
 && python -m compileall -q /opt/dispute-desk/lib/python3.11/site-packages

# --------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
# fonts-wqy-microhei: submit's cover letters embed its Hangul and Chinese (services/submit/settings.py);
# tesseract-ocr with kor and chi_sim (eng comes with it): evidence reads screenshots;
# tzdata: Asia/Seoul and Asia/Shanghai for the deadlines' calendars.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      fonts-wqy-microhei tesseract-ocr tesseract-ocr-kor tesseract-ocr-chi-sim tzdata \
 && rm -rf /var/lib/apt/lists/*
# A numeric, unprivileged user: Kubernetes' runAsNonRoot can check it without /etc/passwd.
RUN groupadd --system --gid 10001 dd \
 && useradd --system --uid 10001 --gid dd --home-dir /var/lib/dispute-desk --create-home --shell /usr/sbin/nologin dd
COPY --from=builder /opt/dispute-desk /opt/dispute-desk
ENV PATH=/opt/dispute-desk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DD_HOST=0.0.0.0
# Relative blob roots (.local/blobs/...) land here when the local store is used; S3 otherwise.
WORKDIR /var/lib/dispute-desk
USER 10001:10001
EXPOSE 8001 8002 8003 8004 8005 8099
CMD ["dd", "--help"]
