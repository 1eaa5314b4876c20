"""Typed keys of the API application's state."""

import asyncpg
from aiohttp import web

from services.api.broker_link import BrokerLink
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
BROKER = web.AppKey("broker", BrokerLink)
