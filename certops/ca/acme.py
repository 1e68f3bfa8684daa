"""ACME (RFC 8555) with External Account Binding, for enterprise ACME servers that pre-authorise names.

The node's own CSR is finalized as-is (the private key never leaves the node). certops does not
solve challenges: an authorization that is not already valid is an error with a clear message,
unless ``trigger_validation`` asks the server to validate it by its own means (out-of-band
domain validation; pebble with ``PEBBLE_VA_ALWAYS_VALID``).

``submit`` registers (or reuses) the account, creates the order for the CSR's identifiers and
sends the finalize request; the ticket holds the order URL. ``poll`` fetches the order and, once
it is valid, downloads the chain. TLS to the server is verified against ``ca_bundle`` (or the
system store). Every refusal becomes ``CaRejected`` (``CaUnavailable`` when retrying may help:
rate limits, server errors, connection failures) with the server's own words.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, NoReturn

import requests
from acme import challenges, messages
from acme import client as acme_client
from acme import errors as acme_errors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwa import RS256
from josepy.jwk import JWKRSA
from pydantic import SecretStr

from certops.ca.base import CaTicket, SignedChainPem, csr_for_ca
from certops.errors import CaError, CaRejected, CaUnavailable
from certops.inventory import AcmeCaConfig

log = logging.getLogger(__name__)

_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\s*", re.DOTALL)
_TRANSIENT = {"rateLimited", "serverInternal", "badNonce"}
_HINTS = {
    "externalAccountRequired": "set eab_kid and the EAB HMAC key (eab_hmac_key_env) the CA issued",
    "unauthorized": "check eab_kid and the EAB HMAC key, and that this account may order these names",
    "rejectedIdentifier": "the CA will not issue for these names; ask the CA to authorise them for this account",
    "badCSR": "download the CSR from the node again; check its key type and size",
    "malformed": "the CA could not parse the request; check the CSR",
    "rateLimited": "the CA is rate limiting this account; retry later",
    "serverInternal": "the CA had an internal error; retry later",
    "accountDoesNotExist": "delete the stored account key to register again",
}


def _problem_code(err: messages.Error) -> str:
    typ = str(err.typ or "")
    return typ.rsplit(":", 1)[-1] if typ else "error"


class AcmeCa:
    """An ACME server with External Account Binding. Implements ``CaBackend``."""

    needs_person = False

    def __init__(
        self,
        config: AcmeCaConfig,
        *,
        eab_hmac_key: SecretStr | None = None,
        name: str = "acme",
        network_timeout: int = 30,
    ) -> None:
        self.name = name
        self.config = config
        self._eab_hmac_key = eab_hmac_key
        self._timeout = network_timeout
        self._client: acme_client.ClientV2 | None = None

    # --- errors -------------------------------------------------------------------------

    def _raise(self, exc: BaseException, action: str) -> NoReturn:
        """Translate a foreign exception into a certops CA error, once, at the boundary."""
        url = self.config.directory_url
        if isinstance(exc, messages.Error):
            code = _problem_code(exc)
            detail = exc.detail or exc.title or code
            for sub in getattr(exc, "subproblems", None) or []:
                ident = getattr(getattr(sub, "identifier", None), "value", None)
                detail += f"; {ident}: {getattr(sub, 'detail', '')}"
            cls = CaUnavailable if code in _TRANSIENT else CaRejected
            raise cls(
                f"{action}: the server refused ({code}): {detail}", backend=self.name, hint=_HINTS.get(code)
            ) from exc
        if isinstance(exc, requests.exceptions.SSLError):
            raise CaError(
                f"{action}: TLS verification of {url} failed",
                backend=self.name,
                hint="set ca_bundle to the CA certificate that signed the ACME server's TLS certificate",
            ) from exc
        if isinstance(exc, requests.exceptions.RequestException):
            raise CaUnavailable(
                f"{action}: cannot reach {url} ({type(exc).__name__})",
                backend=self.name,
                hint="check the directory URL and the network; retry later",
            ) from exc
        if isinstance(exc, acme_errors.TimeoutError):
            raise CaUnavailable(f"{action}: the server did not finish in time", backend=self.name) from exc
        if isinstance(exc, acme_errors.ValidationError):
            raise CaRejected(
                f"{action}: the server did not validate: {exc}",
                backend=self.name,
                hint="ask the CA to pre-authorise these names for this account",
            ) from exc
        raise CaError(
            f"{action}: unexpected answer from {url} ({type(exc).__name__}: {exc})", backend=self.name
        ) from exc

    # --- account ------------------------------------------------------------------------

    def _account_key(self) -> tuple[JWKRSA, bool]:
        """The account key and whether it existed before (then the account is reused).

        Read or made under a file lock beside it: the renewal asks the CA for every node's
        certificate at once, and the first orders of a new account must not make two keys.
        """
        path = self.config.account_key_path
        if path is None:
            return JWKRSA(key=rsa.generate_private_key(65537, 2048)), False
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if Path(path).is_file():
                return self._read_account_key(Path(path)), True
            key = rsa.generate_private_key(65537, 2048)
            data = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        return JWKRSA(key=key), False

    def _read_account_key(self, path: Path) -> JWKRSA:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        except (ValueError, TypeError) as exc:
            raise CaError(
                f"the ACME account key {path} cannot be read ({type(exc).__name__})",
                backend=self.name,
                hint="restore the file or delete it to register a new account",
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CaError(f"the ACME account key {path} is not an RSA key", backend=self.name)
        return JWKRSA(key=key)

    def _connect(self) -> acme_client.ClientV2:
        if self._client is not None:
            return self._client
        key, existed = self._account_key()
        verify: Any = str(self.config.ca_bundle) if self.config.ca_bundle else True
        net = _Network(key, alg=RS256, verify_ssl=verify, user_agent="certops", timeout=self._timeout)
        try:
            directory = acme_client.ClientV2.get_directory(self.config.directory_url, net)
        except Exception as exc:  # noqa: BLE001  (translated below)
            self._raise(exc, "reading the ACME directory")
        client = acme_client.ClientV2(directory, net)
        if existed:
            try:
                lookup = messages.NewRegistration(key=key.public_key(), only_return_existing=True)
                regr = client.new_account(lookup)
                net.account = regr
                self._client = client
                return client
            except acme_errors.ConflictError as exc:
                net.account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
                self._client = client
                return client
            except messages.Error as exc:
                if _problem_code(exc) != "accountDoesNotExist":
                    self._raise(exc, "looking up the ACME account")
            except Exception as exc:  # noqa: BLE001
                self._raise(exc, "looking up the ACME account")
        self._register(client, key)
        self._client = client
        return client

    def _register(self, client: acme_client.ClientV2, key: JWKRSA) -> None:
        eab = None
        if self.config.eab_kid:
            if self._eab_hmac_key is None:
                raise CaError(
                    f"EAB kid {self.config.eab_kid!r} is set but no HMAC key was given",
                    backend=self.name,
                    hint="set eab_hmac_key_env (or eab_hmac_key_secret_block) to where the key is",
                )
            try:
                eab = messages.ExternalAccountBinding.from_data(
                    account_public_key=key.public_key(),
                    kid=self.config.eab_kid,
                    hmac_key=self._eab_hmac_key.get_secret_value(),
                    directory=client.directory,
                )
            except Exception:  # noqa: BLE001  (never chain: the exception may quote the key)
                raise CaError(
                    "the EAB HMAC key is not valid base64url", backend=self.name, hint="copy the key again from the CA"
                ) from None
        contact = (f"mailto:{self.config.contact_email}",) if self.config.contact_email else ()
        reg = messages.NewRegistration.from_data(terms_of_service_agreed=True, external_account_binding=eab)
        if contact:
            reg = reg.update(contact=contact)
        try:
            client.new_account(reg)
        except acme_errors.ConflictError as exc:
            client.net.account = messages.RegistrationResource(uri=exc.location, body=messages.Registration())
        except Exception as exc:  # noqa: BLE001
            self._raise(exc, "registering the ACME account")

    # --- orders -------------------------------------------------------------------------

    def submit(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> CaTicket:
        """Order a certificate for the CSR's names and finalize it with the node's CSR."""
        csr_for_ca(csr_pem, backend=self.name, unit=unit, node=node)  # refused before anything is ordered
        client = self._connect()
        action = f"ordering {unit} for {node}"
        try:
            orderr = client.new_order(csr_pem.encode())
        except Exception as exc:  # noqa: BLE001
            self._raise(exc, action)
        self._ensure_authorized(client, orderr, action)
        try:
            orderr = client.begin_finalization(orderr)
        except Exception as exc:  # noqa: BLE001
            self._raise(exc, f"finalizing the order for {unit} on {node}")
        if orderr.uri is None:
            raise CaError(f"{action}: the server gave no order URL", backend=self.name)
        log.info("ACME order %s for %s [%s] on %s: %s", orderr.uri, node, unit, cluster, orderr.body.status)
        return CaTicket(backend=self.name, reference=orderr.uri, retry_after=1.0)

    def _ensure_authorized(self, client: acme_client.ClientV2, orderr: messages.OrderResource, action: str) -> None:
        deadline = time.monotonic() + self.config.poll_timeout
        for authzr in orderr.authorizations:
            status, ident = authzr.body.status, authzr.body.identifier.value
            if status == messages.STATUS_VALID:
                continue
            if status != messages.STATUS_PENDING:
                raise CaRejected(f"{action}: the authorization for {ident} is {status}", backend=self.name)
            if not self.config.trigger_validation:
                raise CaRejected(
                    f"{action}: the authorization for {ident} is pending; certops does not solve ACME challenges",
                    backend=self.name,
                    hint="ask the CA to pre-authorise this name for the account (or set trigger_validation "
                    "if the server validates names by its own means)",
                )
            # Ask for validation through a challenge type the client library knows (http-01 first);
            # nothing is provisioned: the server validates by its own means.
            known = [c for c in authzr.body.challenges if isinstance(c.chall, challenges.KeyAuthorizationChallenge)]
            known.sort(key=lambda c: c.chall.typ != "http-01")
            challb = known[0] if known else None
            if challb is None:
                raise CaRejected(f"{action}: the authorization for {ident} offers no challenge", backend=self.name)
            try:
                answer = challb.chall.response(client.net.key)
                client.answer_challenge(challb, answer)
                while True:
                    authzr, response = client.poll(authzr)
                    if authzr.body.status == messages.STATUS_VALID:
                        break
                    if authzr.body.status != messages.STATUS_PENDING or time.monotonic() > deadline:
                        raise CaRejected(
                            f"{action}: the server did not validate {ident} ({authzr.body.status})", backend=self.name
                        )
                    time.sleep(min(5.0, _retry_after(response, 1.0)))
            except CaError:
                raise
            except Exception as exc:  # noqa: BLE001
                self._raise(exc, f"{action}: validating {ident}")

    def poll(self, ticket: CaTicket) -> SignedChainPem | None:
        """The chain once the order is valid; None while the server is still processing."""
        return self._poll(ticket)[0]

    def _poll(self, ticket: CaTicket) -> tuple[SignedChainPem | None, float]:
        client = self._connect()
        action = f"polling order {ticket.reference}"
        try:
            response = client._post_as_get(ticket.reference)
            body = messages.Order.from_json(response.json())
        except Exception as exc:  # noqa: BLE001
            self._raise(exc, action)
        if body.status == messages.STATUS_INVALID:
            detail = f"{body.error.detail} ({_problem_code(body.error)})" if body.error else "no reason given"
            raise CaRejected(f"{action}: the order is invalid: {detail}", backend=self.name)
        if body.status != messages.STATUS_VALID or body.certificate is None:
            return None, _retry_after(response, 1.0)
        try:
            cert_response = client._post_as_get(body.certificate)
            alternates = [client._post_as_get(url).text for url in client._get_links(cert_response, "alternate")]
        except Exception as exc:  # noqa: BLE001
            self._raise(exc, f"{action}: downloading the certificate")
        pems = [m.group(0).strip() + "\n" for m in _PEM_CERT.finditer(cert_response.text)]
        if not pems:
            raise CaError(f"{action}: the certificate download holds no PEM certificate", backend=self.name)
        source = f"acme order {ticket.reference}"
        if alternates:
            source += f" ({len(alternates)} alternate chain(s) offered)"
        return SignedChainPem(leaf_pem=pems[0], chain_pems=pems[1:], source=source), 0.0

    def sign(self, csr_pem: str, *, unit: str, node: str, cluster: str) -> SignedChainPem:
        """Submit and poll until the chain is ready, honouring Retry-After, up to ``poll_timeout``."""
        ticket = self.submit(csr_pem, unit=unit, node=node, cluster=cluster)
        deadline = time.monotonic() + self.config.poll_timeout
        while True:
            chain, retry_after = self._poll(ticket)
            if chain is not None:
                return chain
            wait = min(max(retry_after, 0.2), 30.0)
            if time.monotonic() + wait > deadline:
                raise CaUnavailable(
                    f"order {ticket.reference} for {unit} on {node} not ready after {self.config.poll_timeout:.0f} s",
                    backend=self.name,
                    hint="poll the ticket again later",
                )
            time.sleep(wait)

    def alternate_chains(self, ticket: CaTicket) -> list[SignedChainPem]:
        """Every alternate chain the server offers for a valid order (RFC 8555 §7.4.2)."""
        client = self._connect()
        try:
            body = messages.Order.from_json(client._post_as_get(ticket.reference).json())
            if body.certificate is None:
                return []
            urls = client._get_links(client._post_as_get(body.certificate), "alternate")
            texts = [client._post_as_get(url).text for url in urls]
        except Exception as exc:  # noqa: BLE001
            self._raise(exc, f"reading alternate chains of {ticket.reference}")
        out = []
        for text in texts:
            pems = [m.group(0).strip() + "\n" for m in _PEM_CERT.finditer(text)]
            if pems:
                out.append(
                    SignedChainPem(leaf_pem=pems[0], chain_pems=pems[1:], source=f"acme alternate {ticket.reference}")
                )
        return out


NONCE_ATTEMPTS = 10


class _Network(acme_client.ClientNetwork):
    """acme's ClientNetwork, retrying a rejected nonce more than once.

    RFC 8555 §6.5: on ``badNonce`` the client retries with the fresh nonce the error carried.
    acme retries once; servers may reject more often (pebble does at random, on purpose).
    """

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(1, NONCE_ATTEMPTS + 1):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as exc:
                if _problem_code(exc) != "badNonce" or attempt == NONCE_ATTEMPTS:
                    raise
                log.info("ACME server rejected the nonce; retrying (%d/%d)", attempt, NONCE_ATTEMPTS)
        raise AssertionError("unreachable")


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = dt.datetime.strptime(value, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=dt.UTC)
            return max(0.0, (parsed - dt.datetime.now(dt.UTC)).total_seconds())
        except ValueError:
            return default
