# One image for the web server, the workers, beat and flower.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext fonts-dejavu-core bubblewrap && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
RUN pip install -e ".[ml]" flower
COPY . .
RUN DJANGO_SETTINGS_MODULE=config.settings.production DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput
RUN useradd --create-home stride && mkdir -p /app/var && chown -R stride /app/var
USER stride
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--chdir", "platform", "--bind", "0.0.0.0:8000", "--workers", "3"]
