# One Dockerfile for every service; STRIDE_EXTRAS picks what an image installs:
#   ""      the web side (no TensorFlow, no GPU: the web process never imports Keras)
#   "ml"    CPU workers (TensorFlow, and jax on the CPU), beat, flower
#   "gpu"   GPU workers (the ml extra and JAX's CUDA 12 plugin; run with KERAS_BACKEND=jax)
FROM python:3.11-slim
ARG STRIDE_EXTRAS=ml
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext fonts-dejavu-core bubblewrap && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
RUN pip install -e ".${STRIDE_EXTRAS:+[$STRIDE_EXTRAS]}" flower
COPY . .
RUN DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput
RUN useradd --create-home --uid 1000 stride && mkdir -p /app/var && chown -R stride /app/var
USER stride
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--chdir", "platform", "--bind", "0.0.0.0:8000", "--workers", "3"]
