"""The review desk: a small server-rendered web app for volunteers and admins, served by ``faqbot run``.

It runs in the bot's own event loop (tornado, which python-telegram-bot already brings for webhooks),
on the same store and live FAQ. Off unless ``FAQBOT_DESK_PORT`` is set.
"""
