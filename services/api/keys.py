"""Typed keys of the API application's state."""

import asyncpg
from aiohttp import web

from services.api.broker_link import BrokerLink
from shared.db import SharedReads
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
# The checks of jobs submitted at the same moment, by either transport, share identical reads.
READS = web.AppKey("reads", SharedReads)
BROKER = web.AppKey("broker", BrokerLink)
