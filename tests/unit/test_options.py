"""Every collection default lives in Options: collect, collect_async, the CLI and the emulator's truth read them
from there (the report notebook's parameters are tied to them in tests/report)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import acrlib
from acrlib.cli import build_parser
from acrlib.collection.options import DEFAULTS, SETTINGS, Options
from acrlib.emulator.process import Emulator


def test_collect_and_collect_async_take_exactly_the_options_settings_with_their_defaults():
    expected = {f.name: f.default for f in dataclasses.fields(Options) if f.init}
    for fn in (acrlib.collect, acrlib.collect_async):
        parameters = inspect.signature(fn).parameters
        assert list(parameters) == list(SETTINGS)
        assert {name: p.default for name, p in parameters.items()} == expected
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for name, p in parameters.items() if name != "credential")
    assert inspect.iscoroutinefunction(acrlib.collect_async)


def test_an_unknown_setting_is_refused_by_name_before_any_work():
    with pytest.raises(TypeError, match="'activity_day'"):
        acrlib.collect(activity_day=3)


def test_options_resolves_and_checks_its_settings():
    class Credential:
        def get_token(self, *scopes, **kwargs):
            raise AssertionError("no token is asked for while checking settings")

    opts = Options(Credential(), registries="^prod", activity_days=None, subscriptions="0" * 8 + "-0000-0000-0000-"
                   + "0" * 12)
    assert opts.cloud.name == DEFAULTS["cloud"] and opts.activity_days == 0
    assert opts.registry_pattern.pattern == "^prod" and opts.registry_names is None
    assert opts.subscriptions == ("00000000-0000-0000-0000-000000000000",)
    assert opts.limits.request_timeout == DEFAULTS["request_timeout"]
    with pytest.raises(ValueError, match="page_size"):
        Options(Credential(), page_size=0)


def test_the_cli_defaults_are_collects():
    args = build_parser().parse_args(["collect", "--out", "x"])
    for name in ("layers", "referrers", "activity_days", "deployments", "aks_run_command", "vulnerabilities"):
        assert getattr(args, name) == DEFAULTS[name], name


def test_the_emulator_truth_reads_collects_activity_default():
    assert inspect.signature(Emulator.truth).parameters["activity_days"].default is None
