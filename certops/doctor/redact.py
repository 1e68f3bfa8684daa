"""Redaction of everything a capture holds: no password, token, cookie, session id or private
key ever; with ``anonymize``, host names and addresses replaced consistently.

Applied to every text a capture writes (``capture.write_capture``), after the fact: the
recorder keeps what the nodes said, the redactor decides what may leave this machine.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

REDACTED = "<redacted>"
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?:CERTIFICATE|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|PKCS7)-----.*?"
    r"(?:-----END (?:CERTIFICATE|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|PKCS7)-----|\Z)",
    re.S,
)
_SECRET_WORDS = (
    r"(?:password|passwd|pwd|passphrase|secret|token|access_token|id_token|refresh_token|api[_-]?key|"
    r"cookie|set-cookie|authorization|session[_-]?id|sessionid|jsessionid|jsessionidsso|samlresponse)"
)
# "key": "value" (JSON), key=value / key: value (text, headers), <key>value</key> (XML)
_JSON_PAIR = re.compile(r'("(?:[\w-]*' + _SECRET_WORDS + r'[\w-]*)"\s*:\s*)"(?:[^"\\]|\\.)*"', re.I)
_XML_PAIR = re.compile(r"(<(?:[\w.-]+:)?([\w-]*" + _SECRET_WORDS + r"[\w-]*)(?:\s[^>]*)?>)[^<]*(</)", re.I)
_TEXT_PAIR = re.compile(r"(\b[\w-]*" + _SECRET_WORDS + r"[\w-]*\b\s*[=:]\s*)(?!<redacted>)[^\s,;&\"'<>]+", re.I)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.I)
_SLACK = re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{6,}")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


class Redactor:
    """Redacts secrets from text; with ``anonymize`` also replaces names and addresses.

    ``secrets`` are literal values that must never appear (the passwords doctor used).
    ``hosts`` are the FQDNs (and addresses) of the inventory: with ``anonymize`` each becomes
    ``nodeN.example.invalid`` (its short name ``nodeN``), the same every time.
    """

    def __init__(self, *, secrets: Iterable[str] = (), hosts: Iterable[str] = (), anonymize: bool = False) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.anonymize = anonymize
        self._names: dict[str, str] = {}
        self._ips: dict[str, str] = {}
        if anonymize:
            for host in hosts:
                self.name_for(host)

    # -- anonymizing ----------------------------------------------------------------------------

    def name_for(self, host: str) -> str:
        """The stable stand-in of ``host`` (itself when not anonymizing)."""
        if not self.anonymize:
            return host
        key = host.lower()
        if _is_ip(key):
            return self._ip_for(key)
        if key not in self._names:
            n = sum(1 for v in self._names.values() if v.startswith("node") and "." in v) + 1
            self._names[key] = f"node{n}.example.invalid"
            short, _, domain = key.partition(".")
            self._names.setdefault(short, f"node{n}")
            if domain:
                self._names.setdefault(domain, "example.invalid")
        return self._names[key]

    def _ip_for(self, ip: str) -> str:
        if ip not in self._ips:
            self._ips[ip] = f"192.0.2.{len(self._ips) + 1}"
        return self._ips[ip]

    # -- text -------------------------------------------------------------------------------------

    def text(self, value: str) -> str:
        """``value`` with every secret (and, anonymizing, every name, address and certificate) replaced."""
        out = value
        for secret in self.secrets:
            out = out.replace(secret, REDACTED)
        out = _PRIVATE_KEY.sub("<redacted: private key>", out)
        out = _JSON_PAIR.sub(lambda m: m.group(1) + f'"{REDACTED}"', out)
        out = _XML_PAIR.sub(lambda m: m.group(1) + REDACTED + m.group(3), out)
        out = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", out)
        out = _SLACK.sub(REDACTED, out)
        out = _TEXT_PAIR.sub(lambda m: m.group(1) + REDACTED, out)
        if self.anonymize:
            out = _PEM_BLOCK.sub("<certificate removed: anonymized capture>", out)
            for name in sorted(self._names, key=len, reverse=True):
                pattern = r"(?<![A-Za-z0-9])" + re.escape(name) + r"(?![A-Za-z0-9])"
                out = re.sub(pattern, self._names[name], out, flags=re.I)
            out = _IPV4.sub(lambda m: self._ip_for(m.group(0)) if _is_ip(m.group(0)) else m.group(0), out)
        return out

    def mapping(self) -> dict[str, str]:
        """Which stand-in replaced which name (kept on this machine only, never in the capture)."""
        return {**self._names, **self._ips}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
