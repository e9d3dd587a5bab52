# The bot with its shipped FAQ. Configure with environment variables (see README), e.g.
#   docker run -e TELEGRAM_BOT_TOKEN=... -v faqbot-data:/data faqbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FAQBOT_KNOWLEDGE=/app/knowledge \
    FAQBOT_DB=/data/faqbot.sqlite3 \
    FAQBOT_EMBEDDING_CACHE=/data/embeddings.npz

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 faqbot \
    && mkdir -p /data && chown faqbot /data

USER faqbot
VOLUME ["/data"]
# Webhook mode listens here when FAQBOT_WEBHOOK_URL is set (with FAQBOT_WEBHOOK_SECRET; in a container
# also FAQBOT_WEBHOOK_LISTEN=0.0.0.0, since it listens on 127.0.0.1 by default); polling needs no port.
# The review desk is off unless FAQBOT_DESK_PORT is set; in a container also set
# FAQBOT_DESK_LISTEN=0.0.0.0 and publish that port behind an https proxy (FAQBOT_DESK_URL).
EXPOSE 8443
CMD ["faqbot", "run"]
