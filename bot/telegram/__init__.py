"""The Telegram layer: a thin shell of python-telegram-bot handlers around the core."""

import os

# Opt in to PTB's future behaviour (RetryAfter.retry_after as a timedelta); send.py handles both.
os.environ.setdefault("PTB_TIMEDELTA", "1")
