"""Timing and behaviour knobs of a renewal run (defaults for production; tests shrink them)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certops.errors import ConfigError

SETTINGS_ENV = "CERTOPS_RENEWAL_SETTINGS"
"""Environment variable: a JSON object of ``RenewalSettings`` fields for ``certops renew``."""


class RenewalSettings(BaseModel):
    """How long to wait for what, and what to do when the cluster is busy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_busy: Literal["wait", "refuse"] = "wait"  # another run holds the cluster's lock
    lock_wait_timeout: float = Field(default=6 * 3600.0, gt=0)
    lock_poll: float = Field(default=15.0, gt=0)
    drf_wait_timeout: float = Field(default=4 * 3600.0, gt=0)
    drf_poll: float = Field(default=60.0, gt=0)
    restart_timeout: float = Field(default=900.0, gt=0)
    restart_poll: float = Field(default=10.0, gt=0)
    phone_batch_size: int = Field(default=50, gt=0)
    phone_batch_pause: float = Field(default=5.0, ge=0)
    registration_timeout: float = Field(default=1800.0, gt=0)
    registration_interval: float = Field(default=30.0, gt=0)
    ris_requests_per_minute: int = Field(default=10, gt=0, le=18)  # of the 15/min cluster-wide budget
    ris_window: float = Field(default=60.0, gt=0)  # RisPort70 counts requests over this many seconds
    # on Server.RateControl (other clients spent the cluster's budget): back off, in all longer than
    # ris_window (so the window can have freed), at most this long, then fail
    ris_rate_limited_max_wait: float = Field(default=600.0, gt=0)
    ca_poll_interval: float = Field(default=5.0, gt=0)
    ca_poll_timeout: float = Field(default=900.0, gt=0)
    approval_poll_interval: float = Field(default=10.0, gt=0)
    # a wait that lasts (DRF, window, lock, phones) says at once what, since when, at most how long,
    # then a progress line every this many seconds (certops.renewal.waiting)
    wait_progress_interval: float = Field(default=60.0, gt=0)
    window_wait: bool = True  # outside the window: wait for it (True) or stop (False)
    window_wait_max: float = Field(default=7 * 86400.0, gt=0)
    # the on-cluster in-flight check (certops.renewal.inflight): an identity of another ITL-group unit
    # issued this recently (notBefore), that no finished renewal installed, counts as a renewal in flight
    inflight_recent_window: float = Field(default=600.0, ge=0)
    # IM&P units: after the CA certificates went to the IM&P database publisher and Cisco Intercluster
    # Sync Agent restarted there, wait at most this long for them on every IM&P node (Cisco: "about 30
    # minutes"; the default leaves half as much again), reading the trust stores every poll seconds
    imp_trust_replication_timeout: float = Field(default=2700.0, gt=0)
    imp_trust_replication_poll: float = Field(default=60.0, gt=0)
    # a multi-server certificate: after its upload on the publisher, wait at most this long until every
    # other node it names holds it (CUCM distributes it; read back every poll seconds) [INF: Cisco gives no time]
    multi_server_distribution_timeout: float = Field(default=600.0, gt=0)
    multi_server_distribution_poll: float = Field(default=5.0, gt=0)
    # pending CSRs the operator declared leftovers (fingerprints, prefixes of 8+ hex digits, or unit names)
    ignore_pending_csrs: tuple[str, ...] = ()

    @classmethod
    def from_environment(cls, **overrides: Any) -> RenewalSettings:
        """The defaults, then ``$CERTOPS_RENEWAL_SETTINGS`` (a JSON object of fields), then ``overrides``.

        A value that is not JSON, or names an unknown field, is a ``ConfigError`` naming the variable.
        """
        raw = os.environ.get(SETTINGS_ENV, "").strip()
        try:
            base = cls.model_validate_json(raw) if raw else cls()
            return cls.model_validate({**base.model_dump(), **overrides})
        except ValidationError as exc:
            problems = [f"{'.'.join(str(x) for x in e['loc']) or SETTINGS_ENV}: {e['msg']}" for e in exc.errors()]
            raise ConfigError(
                f"{SETTINGS_ENV} is not a valid set of renewal settings",
                problems=problems,
                hint='a JSON object of RenewalSettings fields, e.g. {"lock_poll": 5, "drf_poll": 10}',
            ) from None
