"""A small factory of keys, CSRs and chains for the X.509 tests (built with ``cryptography``).

Defaults make a chain that passes every check for ``tomcat``: RSA 2048 leaf whose key is the
CSR's, the CSR's SANs, CN, key usage and EKU of the unit, signed by an intermediate that a
self-signed root signed, valid for a year. Each argument changes one thing, so a test case
states exactly the defect it makes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certops.units import UNITS
from certops.x509.legacy import legacy_sign

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
FQDN = "cucm-pub.lab.example"
SANS = ["DNS:cucm-pub.lab.example", "DNS:cucm.lab.example", "IP:10.0.0.10"]

Key = Any  # rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


# Generating an RSA 8192 key takes several seconds; this one is a fixed test key (never secret).
_RSA8192_TEST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIISQgIBADANBgkqhkiG9w0BAQEFAASCEiwwghIoAgEAAoIEAQCTta6gT2C46uIL
lfWzvZdlM/iFXFo1zZ2aoy0+XXTxTo0cppOiHcqCDpFWxtumMj/zSg1Aa0ECZiTW
xH3xJANvfln7C7e8DP3KaVbvJFpx3RBsO0QYtaSFrRGKgz2kAmT05BV8eC8ObRiK
+Gc9XbkmVIkda9406C+IDHHuq4p+Apvp7YX1lqhynlZr+DnW3XmUUcd+0m6KIk4U
3uZl1Y20BOc6rsJ6mENBLVduQaOMHGH7V4JdlQHpl4zSlqlUTSaMj8f/9SispqKo
9AvpSKcQjXg4GAS4oaVc9d+pP8VehI98c9UCgGT6vT6wSi/4yw2BnMB4lK2+F5JB
EvY8AoS5qQr3/duketmRy+Qt9s69NMXzldeahQmGTRnPmmSW7qZd88oJy7pBC9NW
Hcuwb4LgbPbN7tBMtXWxp+vMOocge26G0AIaELW33NIPE/GleXwMvHMUEtelxX5u
oTXMkVSy5FsjX9QfWJFC08aJefAn9zXgu9zzfDioWxYqprWytGBDG5FSLtukrgIR
JOyDGd0CC3dtQZCaup+P62uf3rBWhImZboXHjBtBIuaZRFxMzb20sRtPFqUpwPzB
CoSKhCAjGg17EWE21lVBrXc6ErlyIPo1tOs/kZHhRYfooL1UN9lTufPVfK5iMx7S
89/MBr6yvhNaY58HkbYUihvRBT9Vjus/w8juJsjdIUWoOAu2NEoy82t0JA4kCOVG
jnhZzbOKlbMxKc919qC0FHZliTpilrg3SD3DmZVm+W3PaAtLEV/18z62untx691Y
2z0NvEAiiO3ErEGC5ic0kK+bCo19VA272OvpgHceKEk3928zC5QgdPHH41Irn1us
tND/Of8KSUXen2J+Qa2uEiSEeMiNwiAkNiIpU/coy6uy40MjGybNGLi8Gxkt0sUF
OTD/vR+W+qrYppey+a1kUVKRypCyXL5Wi2uJyzpOk0R8h5PmKbJYJUpMxidT8qz2
hFU3/EGl3EdoCfweDy6XVUuua8eB/vmliRAF3w22xc0JkD+ZgP4gixGDrtLXnB/i
Tg3suwDn0EB54T3k7XV5kqgvNmI88NTKbLioTAqgbZvmLW0/nfZjfrnda3Ib4z8Q
9QWYLEMQgNr7LscttGn/PxB+NG9K5yGroRIjUSiI5XANGQOgK/qtywJtFmrfC0Xd
qe5lYiXEDcwk9F9Tfu/4Sn2da5eRiOgMEP0jgTCA3U4nSSXTVVJZfjeVZhDjNQSd
rmY/prpXW+6TmBZembPakFiAl0EVpUR4yVO8oCOjoVToJIKilBf0QI3NEDhz7U55
9QqBNWGUuWKv9GYUHSezFxkKl4U8cyOR1qRf7ur4MyVjZLnQGPpSAG6xog6IStbw
PbXaxryDAgMBAAECggQAALy30mdgKysGLI9RPzyWRadrKFCQW1wNIjYMsYXA+KWC
+ETCBj4/ZaclyB9G/iJ99KiPXV7ze+tH8L3hCgIWSDalKeVq7jVGyk/U1KDz/BH1
oKJX16vcZ2sNtqhhC0D1LuVYeHY2jrVUY4y4xxfh0ZLxWAUDUeZjPYpv9alMgfIF
uKtd9+LAb3cSxJDB0CnUvKB2kcQetrueAghHmYgs1iCNsWjIYhIMwafW0b6G/FnL
EWSaUCAHmS4xv0WT0ghMUQ3TwkTPK0IhELFlx3cb0JA2I/md0roGu7R+Nm8KCC9F
3qyMNRqOKU4mjLXGhQyKBnvZ7yuA1V4MXuQJqHOzybfdbPXXrkLPoZacqEmrJTRZ
V+WHRWovEiyS+l6tO/80LiHhRD4dnbT6nO85d5t/7mod3q3W/C7BTawAIK1TqA0T
35eMGj/MuOfM5zP7u9sHXrf4Da7TrgzcsD2GJtLHyqVY3kA6Tne+GfBQTWynq2Qa
iNsB1YBo7oMOfKGVivvx++Nmhblg6+/esfLgN0JDSQ1LOG+aiz/x938whVPnOTHN
/HF6mVVAjSterVIZis4Nb/rx/RFykHvcL5qV+oKvY2WjH1eMXPq7mJKjmYYvqmo0
zrfVPmA67utty0rVXXZWBr4RlW6LTNWb4SPX+oX5EnMvzLesuAgB5yvfXyfwOeFh
L1olEDj4MmXgPKDEv3CKu6poLA+6OcpowJW9pkMLltVyjaaPRSSl+BSZ0n7WBwOX
gCbhg4ltsUhra2bCay6yCAkRjIb3QugVm5vDE/epk6HZRZXPCEAdI12HZBETmo6s
rN+GSIrDshKbpFgplVLkCZx6hKaVn21NWkcMzl2rjD68uOipIb028V43XEbk58uL
uVongTNCC2HXrzQ5O051nSG7uIpT/A3+hQrJ2uD/Lof+me7kYPYhlhXCShYCGnlB
e/uPNzU9zToIzv7Eu4bXgC5wN2L3qfg59jMbzrMiQg6hVMZPO/5pMgwMxQLC4w+a
7oYANEUtiGaBkcypjqs5dQNbT1Lw+qKZtkUon4pXhnWI4sBG5QXn43/EaZ7p2MoX
BQs2+6UltUo/GIvWOK3i0JuEhMbsMHTjsap9v2qAUlZO4mltQzmtzFV382mxbqQN
R+jAZMqdgNLJHfNxBn46ko1GL4R7ErWBa1aWch1QZBmhyam5MqljGm3pLxy5Js+j
R8mF+1xFzrPk3YXMByaPrTBpN10N71OWmcJK07CbuVK6hV+YLTEBUh1pmR0YtZLl
Wj7IrRCtF7UfE5th9p5+0y3Tw0/FLsUj2KeaIZcd3R3RG3LruxGRwJS8AaypbTwN
VOn/FZls+gL0narmRTHtOGkrGQTbPUAiPmKXeAzijQKCAgEA0JvLbumGbRXyt21T
ZZaf8ctfpQlNxgQvNudoKA4qCc6ntYGxaSDXIhj2zNaji3b4+QpYrif8KqlPzwdX
aggH/8p52utoLBQQ7LaPDcK1Ft4oyQNwrAvywWSiDcQ8rxcIkRX17AROiJmWOHKe
UcNrRgteB9lc/13Wnnf2egIOHJ4VInii++j3kaJ3jGdwgE3ZjwpFQbHT6fvnKiRA
yLJ7Bwz53qcqGgm77NsgoyQKCe/amUU4H/d180EYX/r5pNCx6Wsw02sAooYCbklr
ItBHYAC3LMiSNAufjaUvXFSAxjWzle8+E9RXO81De823t6OmkpTJ1rwXUj8kxhzg
cB2QqMd2dEuAh02WHdYpGOJaBA7FSEbF3D3727z4ZjkfqmTjrGAme8yZ3qJf1wUc
DQBtVp/IdOsquytlikkNNswrhgcrlib47aDi4/HAB04FiOmApjldhZMkMyjtdrUp
WT4/1KlpPlbb8DAx0RKrGnfrhlkK6Wsw25ec9Ds75BoE0lKEy75nCPRf6BdnQBYF
xbXg58c/T8y67rG1c8nL3dCK4hKk5sVunptP71TGi1mazAKoQyn/L3BfFRA4hRrx
ffkMyMYM36OcfYcldp3eHuaKN5dVMhVBCRddgLOIgMxc2qncFi4GzZFDgnqC+Hgh
xTxBC+EDjUfv5KEWN4gmXUinJAUCggIBALVEJVFochPmiWp3gPq7+jQDKWvv7eB0
ycSEhiqD/QGM/egyoUrDJVrrPAmHAd5G/jtsb1t7/L4qo1tZeFrvWy6RE20sIx9z
70mLVhMaGICaGEfqGrS8DV2lJRkbW72566Ai1Hv8e1O+GqRRoOaQHo6MWZNpvDXn
rik5ZxviLbemYLmRp+h7x++9yNQrGGtdsFQmHZojgOLaRuhQWAaAEZ2JD4fnG2zI
djInYod0/Ng5ga3iGMwmvmilpNJ2uBM0PPL2PhRgNtk7g7QTzdsDWIMg2tmReBmu
+jyPqDozpkjo29VtohQkW4nmAsV5Af5RpDdOxXR5MveIrbQ7xjQAGw58Otfx5hpM
5Ognn04nmbdNAfxVOgJ6Kjkj87N8katIrXZ1IqyLYIxExlaI1VNazeoOMJVDUwwT
0M4zcyRHOHid6FPtixQZDWymGmBySTcVeYB+pgAUlz44vRWPrb8361T3rK7zusB4
1+Cc98deOmLclCmAg62GFI4bEq0zmuHkSxkt25DSSVsGP/qS+/IrwqWAyve37uX1
acbtOTR7nyJj9sj4pCVFFLfK5lVPmDHClbIaLo2BR5GlPC0X3WgY13umBEt6X5xg
kOK50Dp/FtZJKYEkx5t4s0lx6xDoyMr8yF7k7vcZ02whu19d7kYNDK5n0Cf+xeuN
X8DbKYXdQQznAoICAEnJYYqopTi+k6yXyfDb91UiV4FbqhvJbR3hejD42ZvAcge8
iREjYZUY+Wr43L4+5c/I/hcT45j/bFBRS3UgxBuQ9cseiylUK6xe4ni+jyk4iXqY
cekZDNOlEcEG0WQpJImVF/hUiaa9lKoAuMk48x/Cc48ZLlDRU1GYIyGCypUKwXUA
8L1j6PWlXt3V1LA9WR/ERTz4dnmD9X8tdZDHuMaEq3k67aRqHwOneoLaA4cCRPMD
zddYw2q4crO4ZUcL3nIuzQVrCr1x4zg5VeDphOWLOz9m7nfkSJpkfD0PUsFJS21U
Q0PmTrjDYQRQfpRBGXEtmbsPqrwXw50jp6tgecOJUffOoPa61cdV8hFwNuDKjLOE
/QVrE0PlMoON3wp5RyK4m8QcWayrCHVYxFRA+2uxdskMSYAM2IyyTC8+xoJQ1PT2
cgQzbS2tW/v5d/G2jh+9mLvfkOVbq6raZ3a+kvtYtPYs6PyrP2OxU743/qH1qutn
U8/Ib+bfcM68+UmfkIM0pONA9Q91/7pmT8JgE95H1rgWNWSqjQEYtriNxCI08AkE
ep01WG/SL6wolJ1mrzeaij2wZKFhrGxAXHzvc7ssem88QuUPwYuUSXXqm6cQKz1c
0TUzA4q7diQApTNe848Q1q0tnZBwXxUeAOvv5R4biBMYB915sQ8RZGiIgz41AoIC
AQCIh/qf1c7PJH7unXKd6QatNJB3h3Gh9fWfur4fuejQyTTaN4B7gn9ZewNuna0P
kmOduLArtTkKt6zxenOH8u+4JHgAbBVMdJOQzo2Xt7kq7GZLjI5vAZIDrgdCYPP5
9NcAeBuaA/OUgQUqLX3HDFinwBkcSrED3Sy2SlFalEMhKAWE4KwbFVjkQAvLm2Y6
QIg26bq0RfenZwevpgyXYNFj2j/DepSSnG9CmZ3CL6De8Hm30iwhYTFcOx/pkphV
hqw9yLG7wTiu6P/rnFsakuuRYSbWZ5aRqdU71my84fhmxFYI7Rn+l+AG/yOpP9r7
htzs970MXNnBzsYfkkJZGpdGktXzn3VU7AQixO1d/b/va+aJ/FvET+YLwgOmdrZ1
0Dkvl0z1r8mZ/ZdyyH/919Bvch6v3tTnrOlC10fr1GU5nJ7I0IxIKBKPepE1gf+Z
qOgqm7pHJztAF5Z8bgtNkz4DcsYzxMsufBcGTNTo6xWJL2G93NnR0sMawlOP9+W6
La1PGtZdv7aXBB8eiqWQo9tps5etfHJJ7U6uEjJbUJ3tVmQkvftNQzo2sXJKYbhe
CpWcX9IerXiNwGqSAH65ELUFomdrvpHThHy8+X5ZAS7fWp4TcvOSLBjGwjJvOxc6
pan6p+9CWcaAlOvACk0VoHCj0PfdmC3VnVe5OJqPBLchkwKCAgB34iIwWGfP8k5m
FHKSmEAx9mhc05Ll+5BkylY1huG1bGlOSBsUEJx3nkj4K1DwbH867i86z/aemGii
hcxlP82SB08qKyKum8fEcios8XH8uxGZQFn05C+wf9uEXRYKQoRpsPR5MZqTDyQR
eS6U4dvgUDXVAd9nnBqm+Rz7KKqXjkPZT8bGfDOp9qOgJ1tHwFqjTEetgHG95cgL
BA/grs3uF8Pk2PMSn8qSHHrjZ0mVO3j2dlUj+MG5ujyKDKyLdbryfCRwXtqKc+UL
fKi5R9tWfOiWXlHNSCP33cAcc3ybBkpGYW5zR3KUZXPdILIuzBS2O71WI3YU1xyY
1QD3wZ3oIxhJRvK3vrZDuk/svhOxnmltsRtOMbzcqgN8ERS++qQQaDI5qTh277vQ
51pCYhMWD4oerEICgvJOVpmIz4YuvCZ6yLb/RyaadYgmh9niZgzAC+Cne61pJKi2
t7HjH+I3tfglQvm8n+ZSNzMln/Gnb51imtx1wQpouJ6sTBWKvVIm/JtN4X0CUNt1
31cGPVkCyU45tOoTX11C/1agVvjKToZpHyNKjZ+3GujeWATu9edOXp2yytvy8fwt
Rm2jUtg34VlG9V8k34Cwj4Kb4XBbyytbgMQa8GUnrbmTVUKcCJ8WmdMzCSJcXOot
vvqy098pWK+IqSkU9htQyUt+TL1Osw==
-----END PRIVATE KEY-----
"""


def key(kind: str = "rsa", size: int = 2048, index: int = 0) -> Key:
    """A cached private key: ``("rsa", bits)`` or ``("ec", 256|384)``; ``index`` gives distinct keys."""
    return _key(kind, size, index)


@cache
def _key(kind: str, size: int, index: int) -> Key:
    if kind == "rsa" and size == 8192 and index == 0:
        return serialization.load_pem_private_key(_RSA8192_TEST_KEY.encode(), None)
    if kind == "rsa":
        return rsa.generate_private_key(65537, size)
    curve = {256: ec.SECP256R1(), 384: ec.SECP384R1()}[size]
    return ec.generate_private_key(curve)


def name(cn: str) -> x509.Name:
    """``CN=cn, O=Example Lab``."""
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Lab")]
    )


def general_names(sans: list[str]) -> list[x509.GeneralName]:
    """``["DNS:a", "IP:1.2.3.4"]`` -> general names."""
    out: list[x509.GeneralName] = []
    for s in sans:
        kind, value = s.split(":", 1)
        out.append(x509.DNSName(value) if kind == "DNS" else x509.IPAddress(ipaddress.ip_address(value)))
    return out


def make_csr(k: Key, cn: str = FQDN, sans: list[str] | None = None) -> x509.CertificateSigningRequest:
    """A CSR as a node makes it: CN, SANs, signed with SHA-256."""
    b = x509.CertificateSigningRequestBuilder().subject_name(name(cn))
    sans = SANS if sans is None else sans
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(general_names(sans)), critical=False)
    return b.sign(k, hashes.SHA256())


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    """PEM bytes of ``csr``."""
    return csr.public_bytes(serialization.Encoding.PEM)


def make_cert(
    subject: x509.Name,
    public_key: Any,
    issuer: x509.Name,
    issuer_key: Key,
    *,
    ca: bool,
    sans: list[str] | None = None,
    ku: set[str] | None = None,
    eku: set[str] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    hash_name: str = "sha256",
    aki_from: Any = None,
    serial: int | None = None,
    basic_constraints: bool = True,
    path_length: int | None = None,
) -> x509.Certificate:
    """One certificate with exactly the extensions given."""
    nb = not_before or NOW - dt.timedelta(days=1)
    na = not_after or NOW + dt.timedelta(days=365)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key((aki_from or issuer_key).public_key()), critical=False
        )
    )
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(general_names(sans)), critical=False)
    if ku:  # an empty set means: no KeyUsage extension at all
        flags = {
            n: n in ku
            for n in (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
            )
        }
        b = b.add_extension(x509.KeyUsage(**flags, encipher_only=False, decipher_only=False), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in sorted(eku)]), critical=False)
    if hash_name in ("sha1", "md5"):
        return legacy_sign(b.sign(issuer_key, hashes.SHA256()), issuer_key, hash_name)
    return b.sign(issuer_key, {"sha256": hashes.SHA256(), "sha384": hashes.SHA384()}[hash_name])


@dataclass
class Case:
    """A CSR and what a CA sent back for it."""

    csr: bytes
    leaf: x509.Certificate
    intermediates: list[x509.Certificate] = field(default_factory=list)
    root: x509.Certificate | None = None
    root_key: Key = None
    inter_key: Key = None

    @property
    def chain(self) -> list[x509.Certificate]:
        """Leaf, intermediates (upward), root."""
        return [self.leaf, *self.intermediates, *([self.root] if self.root is not None else [])]


CA_KU = {"key_cert_sign", "crl_sign", "digital_signature"}


def make_case(
    unit: str = "tomcat",
    *,
    leaf_key: Key = None,
    csr_key: Key = None,
    csr_cn: str = FQDN,
    csr_sans: list[str] | None = None,
    leaf_cn: str | None = None,
    leaf_sans: list[str] | None = None,
    ku: set[str] | None = None,
    eku: set[str] | None = None,
    leaf_ca: bool | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    hash_name: str = "sha256",
    intermediates: int = 1,
    inter_is_ca: bool = True,
    leaf_signed_by_other: bool = False,
    root_key: Key = None,
    inter_key: Key = None,
    inter_hash: str = "sha256",
    inter_not_after: dt.datetime | None = None,
    inter_ku: set[str] | None = None,
    root_ku: set[str] | None = None,
    root_pathlen: int | None = None,
    inter_pathlen: int | None = None,
) -> Case:
    """A signed chain for ``unit``; each keyword changes one property from the good default.

    ``root_*`` and ``inter_*`` change the CA certificates (``inter_key`` is the key of the
    intermediate that signs the leaf; ``inter_hash`` the hash the issuers sign intermediates with).
    """
    spec = UNITS[unit]
    default_key = key("ec", 256) if spec.key_type == "ec" else key("rsa", 2048)
    leaf_key = leaf_key or default_key
    csr_key = csr_key or leaf_key
    csr = make_csr(csr_key, csr_cn, csr_sans)
    root_key = root_key or key("rsa", 2048, 1)
    root = make_cert(
        name("Example Root CA"),
        root_key.public_key(),
        name("Example Root CA"),
        root_key,
        ca=True,
        ku=CA_KU if root_ku is None else root_ku,
        not_before=NOW - dt.timedelta(days=3000),
        not_after=NOW + dt.timedelta(days=3000),
        path_length=root_pathlen,
    )
    issuer_name, issuer_key = root.subject, root_key
    inters: list[x509.Certificate] = []
    for i in range(intermediates):
        ik = inter_key if inter_key is not None and i == intermediates - 1 else key("rsa", 2048, 2 + i)
        inter = make_cert(
            name(f"Example Issuing CA {i + 1}"),
            ik.public_key(),
            issuer_name,
            issuer_key,
            ca=inter_is_ca,
            ku=(CA_KU if inter_is_ca else {"digital_signature", "key_encipherment"}) if inter_ku is None else inter_ku,
            not_before=NOW - dt.timedelta(days=1000),
            not_after=inter_not_after or NOW + dt.timedelta(days=1000),
            hash_name=inter_hash,
            aki_from=issuer_key,
            path_length=inter_pathlen,
        )
        inters.insert(0, inter)
        issuer_name, issuer_key = inter.subject, ik
    signing_key = key("rsa", 2048, 9) if leaf_signed_by_other else issuer_key
    leaf = make_cert(
        name(leaf_cn or csr_cn),
        leaf_key.public_key(),
        issuer_name,
        signing_key,
        ca=spec.must_be_ca if leaf_ca is None else leaf_ca,
        sans=SANS if leaf_sans is None and csr_sans is None else (leaf_sans if leaf_sans is not None else csr_sans),
        ku=set(spec.key_usage) if ku is None else ku,
        eku=set(spec.extended_key_usage) if eku is None else eku,
        not_before=not_before,
        not_after=not_after,
        hash_name=hash_name,
        aki_from=issuer_key,
    )
    return Case(csr=csr_pem(csr), leaf=leaf, intermediates=inters, root=root, root_key=root_key, inter_key=issuer_key)


def pem(*certs: x509.Certificate) -> bytes:
    """A PEM bundle of ``certs`` in the order given."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def der(cert: x509.Certificate) -> bytes:
    """DER of one certificate."""
    return cert.public_bytes(serialization.Encoding.DER)


def p7(certs: list[x509.Certificate], encoding: str = "pem") -> bytes:
    """A degenerate PKCS#7 (certificates only), PEM or DER."""
    enc = serialization.Encoding.PEM if encoding == "pem" else serialization.Encoding.DER
    return pkcs7.serialize_certificates(certs, enc)


EKU_SERVER = ExtendedKeyUsageOID.SERVER_AUTH.dotted_string
EKU_CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string


def sha1_csr(k: rsa.RSAPrivateKey, cn: str = FQDN, sans: list[str] | None = None) -> bytes:
    """A CSR with a valid RSA SHA-1 signature (as old CUCM versions could make), PEM."""
    import hashlib

    der = make_csr(k, cn, sans).public_bytes(serialization.Encoding.DER)
    der = der.replace(bytes.fromhex("06092a864886f70d01010b"), bytes.fromhex("06092a864886f70d010105"))
    tmp = x509.load_der_x509_csr(der)
    numbers = k.private_numbers()
    n = numbers.public_numbers.n
    size = (n.bit_length() + 7) // 8
    t = bytes.fromhex("3021300906052b0e03021a05000414") + hashlib.sha1(tmp.tbs_certrequest_bytes).digest()
    em = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    sig = pow(int.from_bytes(em, "big"), numbers.d, n).to_bytes(size, "big")
    fixed = der[: -len(tmp.signature)] + sig
    return x509.load_der_x509_csr(fixed).public_bytes(serialization.Encoding.PEM)
