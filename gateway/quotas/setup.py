"""The quota parts the settings ask for (``GATEWAY_QUOTAS...``)."""

from __future__ import annotations

from gateway.quotas.budgets import Budget, Budgets, load_overrides
from gateway.quotas.limiter import Limiter, MemoryLimiter, RedisLimiter
from gateway.settings import Settings


def budgets_of(settings: Settings) -> Budgets:
    """The default budgets of the settings and the callers' own from ``quotas_file``."""
    authenticated = Budget(
        settings.quotas_requests_per_minute,
        settings.quotas_units_per_day,
        settings.quotas_units_per_month,
    )
    anonymous = Budget(
        settings.quotas_anonymous_requests_per_minute,
        settings.quotas_anonymous_units_per_day,
        settings.quotas_anonymous_units_per_month,
    )
    overrides = load_overrides(settings.quotas_file, authenticated) if settings.quotas_file else {}
    return Budgets(
        anonymous,
        authenticated,
        overrides,
        anonymous_by_address=settings.quotas_anonymous_by_address,
    )


def limiter_of(settings: Settings) -> Limiter:
    """Redis's shared counters when ``redis_url`` is set, else this process's."""
    if settings.redis_url:
        return RedisLimiter(settings.redis_url, retry_after_s=settings.retry_after_s)
    return MemoryLimiter()
