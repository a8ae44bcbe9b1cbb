"""The cost budget of requests without the token: what one may ask, and how fast.

Reads are open, but some cost CPU when their answer is not cached yet. Their
cost is counted in one unit, about the work of one point's isochrone band of
one minute:

- ``POST /isochrones``: points x bands x the longest band in minutes
  (:func:`isochrone_cost`; 20 points, 6 bands up to 120 minutes: 14 400);
- ``GET /territories/{t}/coverage`` for services not computed yet:
  :data:`COVERAGE_COST` (one search from every site over the territory).

A client without the token (no ``Authorization: Bearer <token>``, or a wrong
one) may ask at most ``COVERAGE_API_ANONYMOUS_MAX_COST`` per request, and
spends from a token bucket kept per client address: it holds at most
``ANONYMOUS_COST_BURST`` and refills at ``ANONYMOUS_COST_RATE`` per second.
Answers already cached cost nothing. A request over the budget gets ``429``
with the JSON error (``"error": "budget"``) and, when waiting helps, a
``Retry-After`` in seconds. Token holders get the full limits of the schema.

Behind a reverse proxy every client would have the proxy's address: uvicorn
reads the client's from ``X-Forwarded-For`` when the proxy is on 127.0.0.1,
or on the addresses of ``FORWARDED_ALLOW_IPS`` (docs/api.md).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from fastapi import Request

from api.errors import BudgetExceededError
from api.settings import ApiSettings

COVERAGE_COST = 600.0
"""Cost of a coverage answer whose services were not computed yet (about 0.1 s of CPU)."""
MAX_CLIENTS = 10_000
"""Client addresses whose bucket is kept (the least recently seen go first; a new one is full)."""


def isochrone_cost(points: int, bands_minutes: Sequence[float]) -> float:
    """Cost of an isochrone request: points x bands x the longest band (minutes)."""
    if not bands_minutes:
        return 0.0
    return float(points * len(bands_minutes) * max(bands_minutes))


class CostBudget:
    """Per-client token buckets of cost units.

    Parameters
    ----------
    max_cost
        Largest cost of one request (0: no limit).
    rate
        Units added to a bucket per second (0: no rate limit).
    burst
        Capacity of a bucket (a new client starts full).
    max_clients
        Buckets kept, least recently used dropped first.
    clock
        Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        max_cost: float,
        rate: float,
        burst: float,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_cost = max_cost
        self.rate = rate
        self.burst = max(burst, max_cost)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> CostBudget:
        """The budget a server's settings describe."""
        return cls(
            max_cost=settings.anonymous_max_cost,
            rate=settings.anonymous_cost_rate,
            burst=settings.anonymous_cost_burst,
        )

    def __len__(self) -> int:
        return len(self._buckets)

    def available(self, client: str) -> float:
        """Units the client may spend now."""
        with self._lock:
            return self._refilled(client, self.clock())

    def _refilled(self, client: str, now: float) -> float:
        tokens, last = self._buckets.get(client, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - last) * self.rate)

    def charge(self, client: str, cost: float, *, what: str = "cette requête") -> None:
        """Spend ``cost`` from the client's bucket.

        Raises
        ------
        BudgetExceededError
            The request costs more than ``max_cost`` (no ``retry_after_s``: it never
            passes without the token), or the bucket holds less than ``cost``
            (``retry_after_s``: the wait until it holds enough).
        """
        if self.max_cost and cost > self.max_cost:
            raise BudgetExceededError(
                f"sans jeton, une requête coûte au plus {self.max_cost:g} unités "
                f"(COVERAGE_API_ANONYMOUS_MAX_COST) ; coût de {what} : {cost:g} unités : "
                "demander moins (points, bandes, minutes) ou envoyer le jeton d'API"
            )
        if not self.rate:
            return
        with self._lock:
            now = self.clock()
            tokens = self._refilled(client, now)
            if tokens < cost:
                wait = max(1, math.ceil((cost - tokens) / self.rate))
                self._store(client, tokens, now)
                raise BudgetExceededError(
                    f"budget de calcul sans jeton épuisé pour ce client : coût de {what} : "
                    f"{cost:g} unités, {tokens:.0f} disponibles, {self.rate:g} de plus par "
                    f"seconde (COVERAGE_API_ANONYMOUS_COST_RATE) ; réessayer dans {wait} s "
                    "ou envoyer le jeton d'API",
                    retry_after_s=wait,
                )
            self._store(client, tokens - cost, now)

    def _store(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)


def holds_token(request: Request) -> bool:
    """Whether the request carries this server's token (constant-time comparison)."""
    token = request.app.state.settings.token
    if token is None:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(given.strip().encode(), token.encode())


def budget_of(request: Request) -> CostBudget:
    """The app's budget (made from its settings on first use)."""
    state = request.app.state
    budget = getattr(state, "budget", None)
    if budget is None:
        budget = state.budget = CostBudget.from_settings(state.settings)
    return budget


def client_key(request: Request) -> str:
    """The address a client's bucket is kept under."""
    return request.client.host if request.client is not None else "inconnu"


def charge(request: Request, cost: float, *, what: str = "cette requête") -> None:
    """Charge a request's cost to its client unless it holds the token.

    Raises
    ------
    BudgetExceededError
        When the anonymous budget does not allow it (429).
    """
    if cost <= 0 or holds_token(request):
        return
    budget_of(request).charge(client_key(request), cost, what=what)
