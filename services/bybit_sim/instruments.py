"""The listed symbols: coins, tick and lot sizes, and their instruments-info entries."""

import hashlib
import math
from dataclasses import dataclass

QUOTE_COINS = ("USDT", "USDC", "USD")
# Rough price levels, so the walk looks like the real markets; others get a stable made-up one.
_KNOWN_PRICES = {"BTC": 42_000.0, "ETH": 2_300.0, "SOL": 100.0, "XRP": 0.6, "DOGE": 0.09}
# Traded value per minute, in the quote coin.
_QUOTE_PER_MINUTE = 1_000_000.0


def stable_int(*parts: object) -> int:
    """A hash that is the same in every process (unlike hash())."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class Instrument:
    category: str
    symbol: str
    base_coin: str
    quote_coin: str
    # Prices are whole ticks of 10**-price_decimals, volumes whole lots of 10**-volume_decimals.
    price_decimals: int
    volume_decimals: int
    turnover_decimals: int
    base_price: float
    launch_ms: int
    # Perpetuals only: minutes between fundings, and the lowest risk tier's leverage.
    funding_interval: int = 480
    max_leverage: int = 100

    @property
    def inverse(self) -> bool:
        return self.category == "inverse"

    @property
    def minute_volume(self) -> float:
        """Typical volume of one minute, in volume units (quote coin for inverse contracts)."""
        return _QUOTE_PER_MINUTE if self.inverse else _QUOTE_PER_MINUTE / self.base_price

    def info(self) -> dict[str, object]:
        """The entry of /v5/market/instruments-info."""
        tick = _step(self.price_decimals)
        lot = _step(self.volume_decimals)
        price_filter = {"minPrice": tick, "maxPrice": "1999999.8", "tickSize": tick}
        common: dict[str, object] = {
            "symbol": self.symbol,
            "status": "Trading",
            "baseCoin": self.base_coin,
            "quoteCoin": self.quote_coin,
            "priceFilter": price_filter,
        }
        if self.category == "spot":
            return {
                **common,
                "innovation": "0",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": lot,
                    "quotePrecision": _step(8),
                    "minOrderQty": lot,
                    "maxOrderQty": "10000",
                    "minOrderAmt": "1",
                    "maxOrderAmt": "4000000",
                },
            }
        return {
            **common,
            "contractType": "InversePerpetual" if self.inverse else "LinearPerpetual",
            "launchTime": str(self.launch_ms),
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(self.price_decimals),
            "settleCoin": self.base_coin if self.inverse else self.quote_coin,
            "leverageFilter": {
                "minLeverage": "1",
                "maxLeverage": f"{self.max_leverage}.00",
                "leverageStep": "0.01",
            },
            "lotSizeFilter": {
                "maxOrderQty": "1000000",
                "minOrderQty": lot,
                "qtyStep": lot,
                "postOnlyMaxOrderQty": "1000000",
                "maxMktOrderQty": "100000",
                "minNotionalValue": "5",
            },
            "unifiedMarginTrade": True,
            "fundingInterval": self.funding_interval,
            "copyTrading": "both",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
        }


def _step(decimals: int) -> str:
    return "1" if decimals <= 0 else f"0.{'0' * (decimals - 1)}1"


def split_symbol(symbol: str) -> tuple[str, str]:
    for quote in QUOTE_COINS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


def funding_interval_of(base_coin: str) -> int:
    """Minutes between fundings: 480 for the majors and most others, 240 or 60 for some."""
    if base_coin in _KNOWN_PRICES:
        return 480
    return (60, 240, 240, 480, 480, 480, 480, 480)[stable_int("funding", base_coin) % 8]


def max_leverage_of(base_coin: str) -> int:
    if base_coin in ("BTC", "ETH"):
        return 100
    return (10, 20, 25, 50)[stable_int("leverage", base_coin) % 4]


def make_instrument(category: str, symbol: str, launch_ms: int) -> Instrument:
    """An instrument whose sizes follow Bybit's habits for its price level."""
    base, quote = split_symbol(symbol)
    price = _KNOWN_PRICES.get(base) or 10 ** (stable_int(base) % 4000 / 1000 - 1)
    magnitude = math.floor(math.log10(price))
    inverse = category == "inverse"
    return Instrument(
        category=category,
        symbol=symbol,
        base_coin=base,
        quote_coin=quote,
        price_decimals=max(0, 5 - magnitude),
        volume_decimals=0 if inverse else max(0, magnitude - 1),
        turnover_decimals=8 if inverse else 4,
        base_price=price,
        launch_ms=launch_ms,
        funding_interval=funding_interval_of(base),
        max_leverage=max_leverage_of(base),
    )
