"""Who resets the phones after a certificate change, and why (no Prefect).

Cisco's seed procedure resets every phone after a CAPF, CallManager or TVS change. Cisco's
Security Guides (12.5SU2, 14SU2) add the enterprise parameter *Phone Interaction on Certificate
Update*: when it is automatic (Cisco's default) the phones reset themselves when a TVS, CAPF or
CallManager/TFTP certificate changes, and a second reset by certops doubles the outage. Then
certops watches the automatic reset through RisPort70 and resets only the phones that did not
come back. The unit table says which units make the phones reset themselves
(``UnitSpec.phones_reset_themselves``) and which need the SIP OAuth phones reset after the Tomcat
restart on 14+ (``UnitSpec.resets_sip_oauth_phones``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from certops.units import Release, UnitSpec

PARAMETER = "Phone Interaction on Certificate Update"
SIP_OAUTH_SINCE: Release = (14, 0, 0)


class PhoneStep(StrEnum):
    """What certops does with the phones after the restarts."""

    NONE = "none"  # the unit needs no phone reset
    WATCH_AUTOMATIC = "watch_automatic"  # the phones reset themselves: watch, reset only those not back
    RESET_ALL = "reset_all"  # certops resets every phone (as the seed says)
    READ_FIRST = "read_first"  # the parameter is not read yet (dry run without a look at the cluster)


def phone_step(spec: UnitSpec, interaction: str | None) -> tuple[PhoneStep, str]:
    """The phone behaviour for ``spec`` given the parameter as read (automatic, manual, absent, unknown …, None).

    Returns the step and one sentence saying why, for the dry run and the log.
    """
    if not spec.reset_phones:
        return PhoneStep.NONE, f"{spec.name} needs no phone reset"
    if not spec.phones_reset_themselves:
        return PhoneStep.RESET_ALL, (
            f"the phones do not reset themselves when {spec.name} changes (Cisco's Security Guides name TVS, CAPF "
            "and CallManager/TFTP only): certops resets every phone, then waits for the baseline"
        )
    if interaction is None:
        return PhoneStep.READ_FIRST, (
            f"'{PARAMETER}' is read from the publisher before the phone step: automatic (Cisco's default) -> the "
            "phones reset themselves, certops watches them come back and resets only those that do not; "
            "otherwise certops resets every phone"
        )
    if interaction == "automatic":
        return PhoneStep.WATCH_AUTOMATIC, (
            f"'{PARAMETER}' is automatic: the phones reset themselves after the {spec.name} upload; certops does "
            "not reset them again, it watches them re-register (RisPort70, within registration_timeout) and "
            "resets only the phones that did not come back"
        )
    if interaction == "manual":
        return PhoneStep.RESET_ALL, (
            f"'{PARAMETER}' is manual: the phones wait for a reset; certops resets every phone, then waits for "
            "the baseline"
        )
    return PhoneStep.RESET_ALL, (
        f"'{PARAMETER}' reads {interaction}: certops cannot tell whether the phones reset themselves and resets "
        "every phone (as when manual), then waits for the baseline"
    )


def not_back(baseline: dict[str, int], now: dict[str, int]) -> list[str]:
    """The phones registered at the baseline that have not re-registered since (sorted).

    ``baseline`` and ``now`` map each registered phone to its RisPort70 TimeStamp (the node's
    clock, so no clock of ours is compared with it). A phone is back when it is registered again
    with a later TimeStamp than at the baseline: it went through a reset and returned. A phone
    still registered with its baseline TimeStamp did not reset (it still holds the old ITL).
    """
    return sorted(name for name, ts in baseline.items() if now.get(name, -1) <= ts)


def names_text(names: Iterable[str], limit: int = 10) -> str:
    """``a, b, c`` or ``a, b, … and 12 more``."""
    items = list(names)
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def outcome_text(
    *, interaction: str | None, baseline: int, watched: bool, stuck: list[str], reset: int, registered: int
) -> str:
    """One line for the report and Slack: who reset the phones and how many came back."""
    if watched:
        back = baseline - len(stuck)
        text = f"phones reset themselves ({PARAMETER}: automatic): {back}/{baseline} back"
        if stuck:
            text += f"; certops reset {len(stuck)} that did not ({names_text(stuck)}); {registered} registered"
        else:
            text += "; certops reset none"
        return text
    how = interaction or "not read"
    return f"certops reset {reset} phones ({PARAMETER}: {how}); {registered}/{baseline} registered"


def sip_oauth_due(spec: UnitSpec, releases: Iterable[Release]) -> bool:
    """True when the SIP OAuth phones must be reset after this unit's Tomcat restart (14+ on any node)."""
    return spec.resets_sip_oauth_phones and any(tuple(r[:2]) >= SIP_OAUTH_SINCE[:2] for r in releases)


def unregistered(configured: Iterable[str], registered: Iterable[str]) -> list[str]:
    """The configured phones (AXL ``listPhone``) that are not registered now (RisPort70), sorted.

    Cisco's Security Guides: renew ITLRecovery "rarely and only with every phone registered" — a
    phone that is away while the ITL signer changes cannot verify the new ITL file when it comes back
    and must have its ITL deleted by hand.
    """
    seen = set(registered)
    return sorted(name for name in set(configured) if name not in seen)
