"""Quotas per caller: requests per minute and processing units per day and month.

``budgets``: who the caller is and what it may spend (settings, overrides from a file);
``windows``: the calendar windows counted in; ``limiter``: the counters, in Redis (shared by
every worker and replica) or in the process. The HTTP edge applies them
(``gateway.edge.quotas``); the engine charges each render (``gateway.context.charge``).
"""
