"""``certops renew`` takes its waits from ``$CERTOPS_RENEWAL_SETTINGS`` (what the fault suite uses)."""

from __future__ import annotations

import pytest

from certops.errors import ConfigError
from certops.renewal.settings import SETTINGS_ENV, RenewalSettings


def test_renewal_settings_come_from_the_environment_and_the_command_line_wins(monkeypatch):
    monkeypatch.setenv(SETTINGS_ENV, '{"lock_poll": 2, "drf_poll": 5, "on_busy": "refuse"}')
    s = RenewalSettings.from_environment(on_busy="wait")
    assert (s.lock_poll, s.drf_poll, s.on_busy) == (2, 5, "wait")
    assert s.restart_timeout == RenewalSettings().restart_timeout


def test_an_unknown_or_bad_setting_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv(SETTINGS_ENV, '{"lock_pol": 2}')
    with pytest.raises(ConfigError) as info:
        RenewalSettings.from_environment()
    assert SETTINGS_ENV in str(info.value) and "lock_pol" in str(info.value)
    monkeypatch.setenv(SETTINGS_ENV, "not json")
    with pytest.raises(ConfigError, match=SETTINGS_ENV):
        RenewalSettings.from_environment()


def test_without_the_variable_the_defaults_apply(monkeypatch):
    monkeypatch.delenv(SETTINGS_ENV, raising=False)
    assert RenewalSettings.from_environment() == RenewalSettings()
