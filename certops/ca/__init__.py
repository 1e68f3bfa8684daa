"""CA backends behind one interface: manual (default), lab CA, ACME.

``make_backend`` builds the backend an inventory names; each implements
``certops.ca.base.CaBackend`` (submit -> ticket, poll -> signed chain or None).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from certops.ca.base import CaBackend, CaTicket, SignedChainPem
from certops.errors import ConfigError
from certops.inventory import AcmeCaConfig, CaConfig, CredentialRef, LabCaConfig, ManualCaConfig, resolve_secret

__all__ = ["CaBackend", "CaTicket", "SignedChainPem", "make_backend"]


def make_backend(
    name: str,
    config: CaConfig,
    *,
    resolve: Callable[[CredentialRef], SecretStr] = resolve_secret,
    csr_directory: Path | None = None,
) -> CaBackend:
    """Build the CA backend called ``name`` from its inventory settings.

    ``resolve`` reads a secret by reference (default: environment variable, or a Prefect Secret
    block through the registered resolver); it is called here, once, for the ACME EAB HMAC key.
    ``csr_directory`` is where the manual backend writes CSR files (default
    ``certops.ca.manual.default_csr_directory()``: ``$CERTOPS_CSR_DIR``, else ``csr/`` in the state directory).
    """
    if isinstance(config, ManualCaConfig):
        from certops.ca.manual import ManualCa, default_csr_directory

        return ManualCa(config, csr_directory=csr_directory or default_csr_directory(), name=name)
    if isinstance(config, LabCaConfig):
        from certops.ca.local import LabCa

        return LabCa(config.directory, validity_days=config.validity_days, name=name)
    if isinstance(config, AcmeCaConfig):
        from certops.ca.acme import AcmeCa

        key: SecretStr | None = None
        if config.eab_hmac_key_env or config.eab_hmac_key_secret_block:
            ref = CredentialRef(
                username=config.eab_kid or "acme-eab",
                password_env=config.eab_hmac_key_env,
                password_secret_block=None if config.eab_hmac_key_env else config.eab_hmac_key_secret_block,
            )
            key = resolve(ref)
        elif config.eab_kid:
            raise ConfigError(
                f"CA backend {name!r}: eab_kid is set but neither eab_hmac_key_env nor eab_hmac_key_secret_block",
                hint="name the environment variable that holds the EAB HMAC key",
            )
        return AcmeCa(config, eab_hmac_key=key, name=name)
    raise ConfigError(f"CA backend {name!r}: unknown type {type(config).__name__}")
