"""How the ACME backend words the server's refusals (problem documents, RFC 8555 §6.7)."""

from __future__ import annotations

import pytest
from acme import messages
from pydantic import SecretStr

from certops.ca.acme import AcmeCa
from certops.errors import CaError, CaRejected, CaUnavailable
from certops.inventory import AcmeCaConfig

SECRET = "c2VjcmV0LWhtYWMta2V5LW5ldmVyLXByaW50ZWQ"


def _backend() -> AcmeCa:
    config = AcmeCaConfig(directory_url="https://acme.example/dir", eab_kid="kid-1", eab_hmac_key_env="X")
    return AcmeCa(config, eab_hmac_key=SecretStr(SECRET), name="corp-acme")


def _problem(code: str, detail: str) -> messages.Error:
    return messages.Error(typ=f"urn:ietf:params:acme:error:{code}", detail=detail)


@pytest.mark.parametrize(
    ("code", "cls", "hint_part"),
    [
        ("rateLimited", CaUnavailable, "retry later"),
        ("serverInternal", CaUnavailable, "retry later"),
        ("badNonce", CaUnavailable, None),
        ("unauthorized", CaRejected, "EAB HMAC key"),
        ("externalAccountRequired", CaRejected, "eab_kid"),
        ("rejectedIdentifier", CaRejected, "authorise"),
        ("badCSR", CaRejected, "CSR"),
        ("malformed", CaRejected, "CSR"),
    ],
)
def test_problem_types_map_to_rejected_or_transient_with_a_hint(
    code: str, cls: type[CaError], hint_part: str | None
) -> None:
    with pytest.raises(cls) as info:
        _backend()._raise(_problem(code, "the server's words"), "ordering tomcat for cucm-pub")
    err = info.value
    assert type(err) is cls
    assert err.transient is (cls is CaUnavailable)
    assert f"CA 'corp-acme': ordering tomcat for cucm-pub: the server refused ({code}): the server's words" in str(err)
    if hint_part:
        assert err.hint is not None and hint_part in err.hint
    assert SECRET not in str(err)


def test_invalid_eab_key_encoding_is_reported_without_the_key() -> None:
    config = AcmeCaConfig(directory_url="https://acme.example/dir", eab_kid="kid-1", eab_hmac_key_env="X")
    backend = AcmeCa(config, eab_hmac_key=SecretStr("a"))
    import josepy as jose
    from acme import client as acme_client
    from cryptography.hazmat.primitives.asymmetric import rsa

    directory = messages.Directory(
        {"newAccount": "https://acme.example/acct", "newNonce": "https://acme.example/nonce"}
    )
    key = jose.JWKRSA(key=rsa.generate_private_key(65537, 2048))
    client = acme_client.ClientV2(directory, acme_client.ClientNetwork(key))
    with pytest.raises(CaError, match="EAB HMAC key is not valid base64url") as info:
        backend._register(client, key)
    assert "'a'" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
