"""The model: events, deliveries, node ids, errors, time, the hash chain and
the alert rules. Pure: imports nothing of the project outside this package."""
