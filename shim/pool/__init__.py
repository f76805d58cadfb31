"""A pool of Speech resources: which one a session runs on, when one is cooled down, and
when a session moves to another.

* :mod:`shim.pool.file`: the pool file (``serve --backends FILE``), loaded and validated;
* :mod:`shim.pool.core`: the decisions, sans-I/O (which resource, cooldowns, probes);
* :mod:`shim.pool.trouble`: which backend failures are a resource's fault;
* :mod:`shim.pool.replay`: the audio a session keeps so that it can start again elsewhere.

The server (``shim/server/placement.py``) carries the core's commands out.
"""
