"""Distributed ingestion: Celery workers on Redis (``VIDSEARCH_BROKER_URL``).

- :mod:`workers.jobs`: job state in Redis (queued, running with chunks done, done, failed, cancelled).
- :mod:`workers.pipeline`: the work itself (prepare, one chunk, finalise), free of Celery.
- :mod:`workers.writer`: who writes results: ``DirectWriter`` (a Qdrant server) or
  ``RedisRelayWriter`` (the embedded store's owning process writes them).
- :mod:`workers.codec`: a batch of vectors and thumbnails as bytes (the relay's messages).
- :mod:`workers.owner`: the owning process's side: drain the relay, keep the catalog in step.
- :mod:`workers.redelivery`: chunks whose task message the broker lost, sent again by the owner.
- :mod:`workers.app`: the Celery app, tasks and worker start-up.
- :mod:`workers.client`: submit, wait, cancel, retry (``vidsearch ingest``/``jobs``).

Design, limits and sizing: docs/scaling.md.
"""
