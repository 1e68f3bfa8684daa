"""The few parts of a certificate's DER a scan reads, without building ``cryptography``'s Python objects.

``cryptography`` turns every name of a certificate into Python ``Name``, ``RelativeDistinguishedName``
and ``NameAttribute`` objects (about 15 µs a name) before ``rfc4514_string`` walks them again; a scan
of a thousand nodes describes some 7,000 certificates, so the names alone cost more than the
certificates' parsing. ``tbs_names`` slices the issuer and subject out of the DER, and ``name_text``
renders a name as ``cryptography``'s ``Name.rfc4514_string()`` does, for the names certificates
almost always have: one attribute per RDN, the RFC 4514 short names (CN, L, ST, O, OU, C, STREET,
DC, UID), UTF8String, PrintableString or IA5String values within ``cryptography``'s length limits.
For anything else both return ``None`` and the caller asks ``cryptography`` (so no input is read
differently, only the common one faster). Pure functions of bytes; nothing here raises.
"""

from __future__ import annotations

# The DER content of each OID ``cryptography`` gives a short name (cryptography.x509.name._NAMEOID_TO_NAME).
_SHORT_NAMES: dict[bytes, str] = {
    bytes.fromhex("550403"): "CN",
    bytes.fromhex("550407"): "L",
    bytes.fromhex("550408"): "ST",
    bytes.fromhex("55040a"): "O",
    bytes.fromhex("55040b"): "OU",
    bytes.fromhex("550406"): "C",
    bytes.fromhex("550409"): "STREET",
    bytes.fromhex("0992268993f22c640119"): "DC",
    bytes.fromhex("0992268993f22c640101"): "UID",
}
# Byte lengths cryptography checks (and warns about) when it reads these attributes.
_LENGTH_LIMITS: dict[str, tuple[int, int]] = {"C": (2, 2), "CN": (1, 64)}
_UTF8, _PRINTABLE, _IA5 = 0x0C, 0x13, 0x16
_PRINTABLE_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``; ``ValueError`` when it overruns ``end``."""
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers are not used in certificates' outer structure")
    first = buf[pos + 1]
    if first < 0x80:
        start, length = pos + 2, first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("unsupported DER length")
        start = pos + 2 + count
        length = int.from_bytes(buf[pos + 2 : start], "big")
    if start + length > end:
        raise ValueError("a DER element runs past its container")
    return tag, start, start + length


def tbs_names(der: bytes) -> tuple[bytes, bytes] | None:
    """(issuer, subject): the DER of both names of the certificate ``der``, or ``None`` if it is not shaped so."""
    try:
        tag, start, end = _tlv(der, 0, len(der))  # Certificate
        if tag != 0x30:
            return None
        tag, pos, tbs_end = _tlv(der, start, end)  # TBSCertificate
        if tag != 0x30:
            return None
        tag, _, nxt = _tlv(der, pos, tbs_end)
        if tag == 0xA0:  # version [0] EXPLICIT
            pos = nxt
        fields: list[tuple[int, int, int]] = []
        for _ in range(5):  # serialNumber, signature, issuer, validity, subject
            tag, _, nxt = _tlv(der, pos, tbs_end)
            fields.append((tag, pos, nxt))
            pos = nxt
    except (IndexError, ValueError):
        return None
    (_, issuer_at, issuer_end), (_, subject_at, subject_end) = fields[2], fields[4]
    if fields[2][0] != 0x30 or fields[4][0] != 0x30:
        return None
    return der[issuer_at:issuer_end], der[subject_at:subject_end]


def _escape(value: str) -> str:
    """RFC 4514 §2.4 escaping, exactly as ``cryptography.x509.name._escape_dn_value`` does it for text."""
    if not value:
        return ""
    value = value.replace("\\", "\\\\").replace('"', '\\"').replace("+", "\\+").replace(",", "\\,")
    value = value.replace(";", "\\;").replace("<", "\\<").replace(">", "\\>").replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _value(tag: int, raw: bytes) -> str | None:
    """The text of one attribute value as ``cryptography`` decodes it, or ``None`` for a kind left to it."""
    if tag == _UTF8:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if tag == _PRINTABLE:
        return raw.decode("ascii") if _PRINTABLE_CHARS.issuperset(raw) else None
    if tag == _IA5:
        return raw.decode("ascii") if raw.isascii() else None
    return None


_UNCOMMON = ("", None)  # in _RDNS: an RDN left to cryptography
_RDNS: dict[bytes, tuple[str, str | None]] = {}
"""``RDN=value`` text and CN value (None for another attribute) of each RDN seen, by its DER: O, OU, C repeat."""


def _rdn_text(name: bytes, start: int, end: int) -> tuple[str, str | None]:
    """(``SHORT=value`` text, the value when it is a CN) of the RDN whose content is ``name[start:end]``."""
    try:
        tag, atv_start, atv_end = _tlv(name, start, end)
        if tag != 0x30 or atv_end != end:  # exactly one attribute in the RDN
            return _UNCOMMON
        tag, oid_start, oid_end = _tlv(name, atv_start, atv_end)
        if tag != 0x06:
            return _UNCOMMON
        short = _SHORT_NAMES.get(name[oid_start:oid_end])
        if short is None:
            return _UNCOMMON
        tag, value_start, value_end = _tlv(name, oid_end, atv_end)
        if value_end != atv_end:
            return _UNCOMMON
    except (IndexError, ValueError):
        return _UNCOMMON
    raw = name[value_start:value_end]
    limits = _LENGTH_LIMITS.get(short)
    if limits is not None and not limits[0] <= len(raw) <= limits[1]:
        return _UNCOMMON  # cryptography warns about these; let it
    value = _value(tag, raw)
    if value is None:
        return _UNCOMMON
    return f"{short}={_escape(value)}", (value if short == "CN" else None)


def name_text(name: bytes) -> tuple[str, str | None] | None:
    """(RFC 4514 text, first CN) of the DER ``name``, as ``cryptography`` gives them; ``None`` when uncommon.

    The text lists the RDNs last first, as ``Name.rfc4514_string()`` does; the CN is the value of
    the first common-name attribute in DER order (``get_attributes_for_oid(COMMON_NAME)[0]``).
    Each RDN's text is remembered by its DER (a fleet's names share most of theirs).
    """
    try:
        tag, pos, end = _tlv(name, 0, len(name))
        if tag != 0x30 or end != len(name):
            return None
        parts: list[str] = []
        cn: str | None = None
        while pos < end:
            tag, rdn_start, rdn_end = _tlv(name, pos, end)
            if tag != 0x31:
                return None
            rdn = name[pos:rdn_end]
            known = _RDNS.get(rdn)
            if known is None:
                known = _rdn_text(name, rdn_start, rdn_end)
                if len(_RDNS) < 16384:
                    _RDNS[rdn] = known
            if known is _UNCOMMON:
                return None
            text, value = known
            if value is not None and cn is None:
                cn = value
            parts.append(text)
            pos = rdn_end
    except (IndexError, ValueError):
        return None
    return ",".join(reversed(parts)), cn
