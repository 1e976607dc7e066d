"""Enrichment: which VMs an event is about, their maintenance windows, advice and a plan.

resource_id    the one parser of ARM ids: which subscription, group and VM an id names
arm            ARM client over requests: tokens, pacing, paging, retries, long operations
pacing         token buckets mirroring ARM's and Compute's throttling limits
discovery      impacted resources, VM lists, auto-shutdown schedules
instance_view  VM model + instance view -> ``VirtualMachine`` (with a short-lived cache)
advice         Azure's guidance on whether to self-serve, as data and rules
plan           the self-service order by update domain
pipeline       ``enrich_event`` (the queue stage) and ``survey_fleet`` (the CLI)
stage          the queue stage: envelope in, enriched envelope out
maintenance    starting self-service maintenance (the CLI's ``start-maintenance``)
errors         the error hierarchy
"""
