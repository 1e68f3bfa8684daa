"""The certops error tree.

One root, shallow families, data as attributes. Every error a person sees says what happened,
where (cluster, node, unit) and what to do next. ``transient`` marks errors that are safe to
retry (a connection refused, a timeout, a rate limit); everything else is permanent.

Foreign exceptions (httpx, paramiko, ssl, cryptography, acme) are translated into these only
inside the adapters, with ``raise ... from exc``.

::

    CertopsError
    ├── ConfigError                 inventory / settings problems (with a place in the file)
    ├── PolicyViolation             a rule that never breaks (CallManager with TVS, IPsec during DRF, SSO)
    ├── CucmError(node)             anything a node said or failed to say
    │   ├── CucmConnectionError     transient: refused, reset, timeout, TLS handshake dropped
    │   ├── CucmRateLimited         transient: RisPort70 Server.RateControl
    │   ├── CucmAuthError           never retried: 401 / SSH auth refused
    │   ├── CucmTrustError          never retried: TLS verification or SSH host key mismatch
    │   ├── CucmApiError            the node refused a request (HTTP 4xx/5xx, SOAP fault)
    │   │   ├── CsrNotFound
    │   │   ├── KeyMismatch
    │   │   ├── SanMismatch
    │   │   ├── TrustChainMissing
    │   │   └── PlatformLocked      transient: DRF backup holds the platform API
    │   └── CliCommandError         a CLI command failed or its output was not understood
    ├── CertificateError            a certificate input could not be read or fails a check
    ├── CaError
    │   ├── CaUnavailable           transient
    │   └── CaRejected              the CA refused the request
    └── VerificationError           the node serves the wrong certificate after a renewal
"""

from __future__ import annotations


class CertopsError(Exception):
    """Root of every error certops raises on purpose.

    ``hint`` says what to do next; ``transient`` says whether retrying may help.
    """

    transient: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class ConfigError(CertopsError):
    """The inventory or a setting is invalid. ``problems`` lists each with its place."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None):
        self.problems = list(problems or [])
        super().__init__(message, hint=hint)

    def __str__(self) -> str:
        base = super().__str__()
        if not self.problems:
            return base
        return base + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class PolicyViolation(CertopsError):
    """A rule that must never break would be broken; nothing was changed."""

    def __init__(
        self,
        message: str,
        *,
        cluster: str,
        unit: str | None = None,
        rule: str,
        hint: str | None = None,
    ) -> None:
        self.cluster = cluster
        self.unit = unit
        self.rule = rule
        super().__init__(message, hint=hint)


class CucmError(CertopsError):
    """Something went wrong talking to one CUCM node.

    ``node`` is the node's FQDN, ``operation`` the domain verb (``generate_csr``,
    ``upload_identity``, ``restart_service``...), ``unit`` the certificate unit if any.
    """

    def __init__(
        self,
        message: str,
        *,
        node: str,
        operation: str,
        unit: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.node = node
        self.operation = operation
        self.unit = unit
        where = f"{node}" + (f" [{unit}]" if unit else "")
        super().__init__(f"{where}: {operation}: {message}", hint=hint)
        self.message = message

    def __str__(self) -> str:
        # ``message`` is the bare text; what a person sees always names the node, unit and operation.
        base = super().__str__()
        prefix = f"{self.node}" + (f" [{self.unit}]" if self.unit else "") + f": {self.operation}: "
        return base if base.startswith(prefix) else prefix + base


class CucmConnectionError(CucmError):
    """The node could not be reached or dropped the connection (safe to retry)."""

    transient = True


class CucmRateLimited(CucmError):
    """The node asked us to slow down (RisPort70 ``Server.RateControl``)."""

    transient = True


class CucmAuthError(CucmError):
    """The node refused the credentials. Never retried: retries can lock the account."""


class CucmTrustError(CucmError):
    """TLS certificate verification or SSH host-key checking failed. Never retried."""


class CucmApiError(CucmError):
    """The node refused a request. ``status`` is the HTTP status or SOAP fault code."""

    def __init__(
        self,
        message: str,
        *,
        node: str,
        operation: str,
        unit: str | None = None,
        status: int | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        super().__init__(message, node=node, operation=operation, unit=unit, hint=hint)


class CsrNotFound(CucmApiError):
    """No CSR is pending on the node for this unit."""


class KeyMismatch(CucmApiError):
    """The certificate's public key differs from the pending CSR's."""


class SanMismatch(CucmApiError):
    """The certificate's SAN set differs from the pending CSR's."""


class TrustChainMissing(CucmApiError):
    """The certificate's issuer is not in ``<unit>-trust``."""


class PlatformLocked(CucmApiError):
    """The platform API is locked (a DRF backup or restore runs). Safe to retry later."""

    transient = True


class CliCommandError(CucmError):
    """A CLI command failed, timed out, or printed something we do not understand."""

    def __init__(
        self,
        message: str,
        *,
        node: str,
        command: str,
        output: str = "",
        unit: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.command = command
        self.output = output
        super().__init__(message, node=node, operation=f"cli '{command}'", unit=unit, hint=hint)


class CertificateError(CertopsError):
    """A certificate, chain or CSR could not be read, or fails a check."""


class CaError(CertopsError):
    """A CA backend failed."""

    def __init__(self, message: str, *, backend: str, hint: str | None = None) -> None:
        self.backend = backend
        super().__init__(f"CA '{backend}': {message}", hint=hint)


class CaUnavailable(CaError):
    """The CA could not be reached or is busy (safe to retry)."""

    transient = True


class CaRejected(CaError):
    """The CA refused the request."""


class VerificationError(CertopsError):
    """After a renewal the node does not serve the certificate that was uploaded."""

    def __init__(self, message: str, *, node: str, unit: str, hint: str | None = None) -> None:
        self.node = node
        self.unit = unit
        super().__init__(f"{node} [{unit}]: {message}", hint=hint)


def is_transient(exc: BaseException) -> bool:
    """Return True when ``exc`` is a certops error that is safe to retry."""
    return isinstance(exc, CertopsError) and exc.transient
