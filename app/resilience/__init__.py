"""Resilience: per-process circuit breakers (``breaker``), their metrics
(``metrics``) and the load-shedding policy (``shedding``). Framework-free: the
adapters take a breaker from ``app.wiring``; the HTTP side of shedding is
``app.api.load_shedding``. See ``docs/resilience.md``."""
