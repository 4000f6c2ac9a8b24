"""The artists' web app (``artwatch dashboard``): review queue, hit pages, evidence packs,
portfolio, settings, an operator view and a JSON API, on FastAPI with Jinja2 templates,
served by uvicorn; English and Simplified Chinese. See ``artwatch.web.app``."""

from artwatch.web.app import WebConfig, create_app, server
from artwatch.web.auth import new_login_token
from artwatch.web.operator import new_operator_token

__all__ = ["WebConfig", "create_app", "new_login_token", "new_operator_token", "server"]
