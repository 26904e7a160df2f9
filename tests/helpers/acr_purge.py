"""``purge_plan`` with acr purge's own defaults (keep 0, no pull protection), for the tests that pin acr purge's
rules; acrlib's defaults are the report's safer ones (90 days, keep 3, pulled within 30 days kept)."""

from __future__ import annotations

import functools

import acrlib

purge_plan = functools.partial(acrlib.purge_plan, keep=0, protect_pulled_within=None)
