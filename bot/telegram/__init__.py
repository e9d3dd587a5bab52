"""The Telegram layer: a thin shell of python-telegram-bot handlers around the core."""
