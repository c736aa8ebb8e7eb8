"""Import hardware-token seed files (PSKC, RFC 6030, and a simple CSV) into plain ``TokenSeed`` values.

Failures come in two sizes. ``SeedFileError`` refuses the whole file: it cannot be read, decrypted or
trusted (wrong key or password, failed MAC), so nothing from it is half-imported. A ``Rejected`` entry
refuses one token (unsupported algorithm, short key, duplicate serial...) and the rest of the file still
imports. Neither ever carries key material in its message: both end up in audit events and logs.
"""

from __future__ import annotations

import io
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accounts.oath.otp import (
    ALLOWED_DIGITS,
    ALLOWED_PERIODS,
    MAX_COUNTER,
    HashAlgorithm,
    Kind,
    OathParams,
)

if TYPE_CHECKING:
    from pskc.key import Key

# RFC 4226 section 4, requirement R6: the shared secret is at least 128 bits.
MIN_KEY_BYTES = 16

# The file chooses its PBKDF2 iteration count; a hostile one could keep a worker busy for hours.
# Vendors use 1,000 to a few 100,000; two million still derives in about a second.
MAX_PBKDF2_ITERATIONS = 2_000_000

DUPLICATE_SERIAL = "duplicate serial in file"

# RFC 6030 section 10 registers the ":hotp" URN; ":totp" comes from the PSKC algorithm-profiles draft.
# Some vendors write "#" instead of the last ":", the same algorithm under a misspelt name.
_PSKC_KINDS: dict[str, Kind] = {
    "urn:ietf:params:xml:ns:keyprov:pskc:hotp": "hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc:totp": "totp",
    "urn:ietf:params:xml:ns:keyprov:pskc#hotp": "hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc#totp": "totp",
}

# The PSKC data fields that python-pskc may hold encrypted.
_PSKC_VALUE_FIELDS = ("secret", "counter", "time_offset", "time_interval", "time_drift")

_CSV_LAYOUT = "serial,key,type,digits,counter|step"
_CSV_TYPE = re.compile(r"^(hotp|totp)(?:[/-](.+))?$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True)
class TokenSeed:
    """One hardware token ready to be stored: its serial, shared secret and OATH parameters.

    ``counter`` is the next HOTP counter to expect (0 for TOTP).
    """

    serial: str
    key: bytes = field(repr=False)  # keeps seeds out of reprs, hence out of logs and tracebacks
    params: OathParams
    counter: int = 0
    manufacturer: str = ""
    model: str = ""


@dataclass(frozen=True)
class Rejected:
    """A token that was not imported, and why. ``serial`` is "" or "row N" when no serial was read."""

    serial: str
    reason: str


@dataclass
class ImportResult:
    """What a seed file yielded: the tokens to import and the ones refused, in file order."""

    seeds: list[TokenSeed]
    rejected: list[Rejected]


class SeedFileError(Exception):
    """The whole seed file is refused; the message names the problem and never holds key material."""


class _TokenProblem(Exception):
    """One token (PSKC key package or CSV row) cannot be imported; the message is the reason."""


def normalise_hash_name(name: str) -> HashAlgorithm | None:
    """Map a hash name in any common spelling to SHA1/SHA256/SHA512, or ``None`` if unsupported.

    Accepts "SHA256", "sha-256", "HMAC-SHA256", "hmac-sha-256" and XML-DSig URIs such as
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256".
    """
    compact = re.sub(r"[^A-Z0-9]", "", name.rsplit("#", 1)[-1].upper()).removeprefix("HMAC")
    return {"SHA1": "SHA1", "SHA256": "SHA256", "SHA512": "SHA512"}.get(compact)  # type: ignore[return-value]


def _check_serial(serial: str) -> str:
    serial = serial.strip()
    if not serial:
        raise _TokenProblem("missing serial")
    if not serial.isprintable():
        raise _TokenProblem("serial contains control characters")
    return serial


def _check_key_length(key: bytes) -> bytes:
    if len(key) < MIN_KEY_BYTES:
        raise _TokenProblem(f"key shorter than {MIN_KEY_BYTES} bytes")
    return key


def _params(kind: Kind, algorithm: HashAlgorithm, digits: int | None, period: int | None) -> OathParams:
    if digits not in ALLOWED_DIGITS:
        raise _TokenProblem("unsupported number of digits (6 or 8 only)")
    if kind == "totp":
        if period not in ALLOWED_PERIODS:
            raise _TokenProblem("unsupported time step (30 or 60 seconds only)")
        return OathParams(kind=kind, algorithm=algorithm, digits=digits, period=period)
    return OathParams(kind=kind, algorithm=algorithm, digits=digits)


class _Importer:
    """Collects accepted and rejected tokens, refusing a serial already accepted from the same file."""

    def __init__(self) -> None:
        self.result = ImportResult(seeds=[], rejected=[])
        self._serials: set[str] = set()

    def accept(self, seed: TokenSeed, *, label: str = "") -> None:
        # Only accepted serials count: a vendor file may list an unsupported key (say, challenge-response)
        # and then the OTP key of the same device, and that OTP key is welcome.
        if seed.serial in self._serials:
            self.reject(seed.serial, DUPLICATE_SERIAL, label=label)
            return
        self._serials.add(seed.serial)
        self.result.seeds.append(seed)

    def reject(self, serial: str, reason: str, *, label: str = "") -> None:
        self.result.rejected.append(Rejected(serial=serial, reason=f"{label}: {reason}" if label else reason))


# ---------------------------------------------------------------------------------------------- PSKC


def _refuse_document_type(data: bytes) -> None:
    """Refuse malformed XML and any DTD before python-pskc sees the file.

    PSKC never needs a DTD, and without lxml or defusedxml python-pskc parses with the standard library,
    so entity declarations (billion laughs, external entities) are stopped here, in expat's first pass.
    """

    def refuse(*_args: Any) -> None:
        raise SeedFileError("the file declares a document type or entities, which PSKC files never need")

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise SeedFileError(f"not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)})") from None


def _encrypted_values(key: Key) -> list[Any]:
    from pskc.key import EncryptedValue

    # python-pskc keeps undecrypted values in the private "_<field>" attributes behind its descriptors;
    # we need them to see which values were encrypted and whether they carry a MAC (pinned version 1.4).
    values = [getattr(key, f"_{name}", None) for name in _PSKC_VALUE_FIELDS]
    return [value for value in values if isinstance(value, EncryptedValue)]


def _check_pskc_integrity(container: Any, *, decryption_given: bool) -> None:
    """Refuse files whose encrypted values cannot be authenticated, or that mix in plaintext secrets."""
    encrypted = {id(key): _encrypted_values(key) for key in container.keys}
    expect_encrypted_secrets = decryption_given or any(encrypted.values())
    for key in container.keys:
        for value in encrypted[id(key)]:
            algorithm = (value.algorithm or container.encryption.algorithm or "").lower()
            # RFC 6030 section 6.1.1: CBC gives no integrity, so each CBC-encrypted value MUST carry a
            # ValueMAC. python-pskc only checks a MAC that is present; a stripped one would pass.
            if algorithm.endswith("-cbc") and not value.mac_value:
                raise SeedFileError("an encrypted value has no MAC: the file's integrity cannot be checked")
        raw_secret = getattr(key, "_secret", None)
        # Encryption protects each value, not the document: anyone on the way could add a key package
        # with a plaintext secret of their choosing to an encrypted vendor file. Refuse such files.
        if expect_encrypted_secrets and raw_secret is not None and raw_secret not in encrypted[id(key)]:
            raise SeedFileError(
                "the file holds plaintext secrets although it is encrypted or a decryption key was given"
            )


def _decrypt_all(container: Any, *, decryption_given: bool) -> list[dict[str, Any]]:
    """Decrypt every value up front, so one bad MAC or wrong key refuses the whole file."""
    from pskc.exceptions import PSKCError

    decrypted = []
    try:
        for key in container.keys:
            decrypted.append({name: getattr(key, name) for name in _PSKC_VALUE_FIELDS})
    except PSKCError as exc:
        if not decryption_given:
            raise SeedFileError("the file is encrypted: a pre-shared key or a password is required") from None
        # python-pskc's messages ("MAC value does not match", "Invalid padding", "Invalid key length",
        # "Unsupported algorithm: ...") name the problem and never contain key material.
        raise SeedFileError(
            f"cannot decrypt the file ({exc}): wrong key or password, or the file was altered"
        ) from None
    return decrypted


def _pskc_kind(algorithm: str | None) -> Kind:
    kind = _PSKC_KINDS.get((algorithm or "").strip().lower())
    if kind is None:
        raise _TokenProblem("unsupported algorithm (HOTP and TOTP only)")
    return kind


def _pskc_hash(key: Key) -> HashAlgorithm:
    # "hash_algorithm" is not a python-pskc 1.4 attribute; read it too in case a later version adds it.
    name = key.algorithm_suite or getattr(key, "hash_algorithm", None)
    if not name:
        return "SHA1"
    algorithm = normalise_hash_name(name)
    if algorithm is None:
        raise _TokenProblem("unsupported hash algorithm (SHA1, SHA256 or SHA512 only)")
    return algorithm


def _seed_from_pskc_key(key: Key, values: dict[str, Any]) -> TokenSeed:
    serial = _check_serial(key.serial or "")
    kind = _pskc_kind(key.algorithm)
    algorithm = _pskc_hash(key)
    if key.response_encoding and key.response_encoding.strip().upper() != "DECIMAL":
        raise _TokenProblem("unsupported response encoding (DECIMAL only)")
    # A key package without <ResponseFormat> gets the RFC 4226 default of 6 digits; a wrong guess shows
    # up at the two-code enrollment check, it cannot let a wrong code in.
    digits = key.response_length if key.response_length is not None else 6
    # <TimeInterval> is optional; RFC 6238 recommends 30 seconds.
    period = values["time_interval"] if values["time_interval"] is not None else 30
    params = _params(kind, algorithm, digits, period)
    secret = values["secret"]
    if not secret:
        raise _TokenProblem("no secret key in the key package")
    counter = 0
    if kind == "hotp":
        counter = values["counter"] or 0
        if not 0 <= counter <= MAX_COUNTER:
            raise _TokenProblem("counter out of range")
    return TokenSeed(
        serial=serial,
        key=_check_key_length(bytes(secret)),
        params=params,
        counter=counter,
        manufacturer=(key.manufacturer or "").strip(),
        model=(key.model or "").strip(),
    )


def parse_pskc(data: bytes, *, psk: bytes | None = None, password: str | None = None) -> ImportResult:
    """Read an RFC 6030 PSKC file into token seeds.

    ``psk`` is the raw pre-shared key (AES-128/192/256-CBC with HMAC, or AES key wrap); ``password``
    derives the key with the file's PBKDF2 settings. Raises ``SeedFileError``, with nothing imported,
    for malformed XML, a DTD, a file without key packages, a missing, wrong or unusable key or
    password, a failed or missing MAC, or plaintext secrets in an encrypted file. Key packages that
    are not HOTP/TOTP, lack a serial, use other digits, time steps or hashes, hold a key shorter than
    16 bytes or repeat an accepted serial go to ``rejected``. Raises ``ValueError`` when both ``psk``
    and ``password`` are given.
    """
    from pskc import PSKC
    from pskc.exceptions import PSKCError

    if psk is not None and password is not None:
        raise ValueError("give either psk or password, not both")
    if not isinstance(data, bytes | bytearray):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        raise SeedFileError("the file is empty")
    _refuse_document_type(data)
    try:
        container = PSKC(io.BytesIO(data))
    except PSKCError as exc:
        raise SeedFileError(f"not a usable PSKC file ({exc})") from None
    except Exception:
        # python-pskc is fed untrusted bytes; besides its own errors it lets base64 and integer parsing
        # errors through. Any of them means the file cannot be read as PSKC.
        raise SeedFileError("not a usable PSKC file (invalid element content)") from None

    if not container.keys:
        raise SeedFileError("the file holds no key packages")
    decryption_given = psk is not None or password is not None
    if password is not None:
        if not password:
            raise SeedFileError("the password is empty")
        iterations = container.encryption.derivation.pbkdf2_iterations
        if iterations is not None and iterations > MAX_PBKDF2_ITERATIONS:
            raise SeedFileError(f"PBKDF2 iteration count above {MAX_PBKDF2_ITERATIONS:,} refused")
        try:
            container.encryption.derive_key(password)
        except PSKCError:
            raise SeedFileError("the file has no usable password-based (PBKDF2) key derivation") from None
    elif psk is not None:
        container.encryption.key = bytes(psk)
    _check_pskc_integrity(container, decryption_given=decryption_given)
    decrypted = _decrypt_all(container, decryption_given=decryption_given)

    importer = _Importer()
    for key, values in zip(container.keys, decrypted, strict=True):
        try:
            seed = _seed_from_pskc_key(key, values)
        except _TokenProblem as problem:
            importer.reject((key.serial or "").strip(), str(problem))
            continue
        importer.accept(seed)
    return importer.result


# ----------------------------------------------------------------------------------------------- CSV


def _as_text(text: str | bytes) -> str:
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise SeedFileError("the file is not UTF-8 text") from None
    elif isinstance(text, str):
        try:
            # Lone surrogates: the caller decoded bytes that were not UTF-8 with errors="surrogateescape".
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SeedFileError("the file is not UTF-8 text") from None
    else:
        raise ValueError(f"text must be str or bytes, got {type(text).__name__}")
    if "\x00" in text:
        raise SeedFileError("the file is not text (it contains NUL characters)")
    return text.removeprefix("\ufeff")  # spreadsheet exports often start with a byte order mark


def _seed_from_csv_row(fields: list[str]) -> TokenSeed:
    if len(fields) != 5:
        raise _TokenProblem(f"expected 5 columns ({_CSV_LAYOUT}), got {len(fields)}")
    serial_text, key_hex, type_text, digits_text, last_text = fields
    serial = _check_serial(serial_text)
    # Values are never echoed back in reasons: with shifted columns, any of them could be the key.
    if not key_hex or len(key_hex) % 2 or not _HEX.match(key_hex):
        raise _TokenProblem("key is not valid hexadecimal")
    key = _check_key_length(bytes.fromhex(key_hex))
    match = _CSV_TYPE.match(type_text.lower())
    if match is None:
        raise _TokenProblem("unknown token type (hotp or totp, optionally /sha1, /sha256 or /sha512)")
    kind: Kind = "hotp" if match.group(1) == "hotp" else "totp"
    algorithm: HashAlgorithm | None = "SHA1"
    if match.group(2):
        algorithm = normalise_hash_name(match.group(2))
        if algorithm is None:
            raise _TokenProblem("unknown token type (hash must be sha1, sha256 or sha512)")
    digits = int(digits_text) if digits_text.isascii() and digits_text.isdigit() else None
    if not last_text.isascii() or not last_text.isdigit():
        raise _TokenProblem("last column must be the HOTP counter or the TOTP step (30 or 60)")
    last = int(last_text)
    if kind == "totp":
        return TokenSeed(serial=serial, key=key, params=_params(kind, algorithm, digits, last))
    params = _params(kind, algorithm, digits, None)
    if last > MAX_COUNTER:
        raise _TokenProblem("counter out of range")
    return TokenSeed(serial=serial, key=key, params=params, counter=last)


def parse_oath_csv(text: str | bytes) -> ImportResult:
    """Read seed lines ``serial,key,type,digits,counter|step`` into token seeds.

    ``key`` is hexadecimal; ``type`` is ``hotp`` or ``totp``, optionally with a hash (``totp/sha256``,
    ``hotp-sha512``); ``digits`` is 6 or 8; the last column is the HOTP counter or the TOTP step (30 or
    60). Blank lines and lines starting with ``#`` are skipped. A bad row goes to ``rejected`` with the
    reason "row N: ..." (N the line number) and the others import. Raises ``SeedFileError`` when the
    file is not UTF-8 text or has no data rows.
    """
    text = _as_text(text)
    importer = _Importer()
    data_rows = 0
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        data_rows += 1
        fields = [column.strip() for column in line.split(",")]
        label = f"row {number}"
        try:
            seed = _seed_from_csv_row(fields)
        except _TokenProblem as problem:
            # With the wrong number of columns the first one may not be the serial (it may be the key).
            serial = fields[0] if len(fields) == 5 and fields[0].isprintable() else ""
            importer.reject(serial or label, str(problem), label=label)
            continue
        importer.accept(seed, label=label)
    if data_rows == 0:
        raise SeedFileError("the file has no data rows")
    return importer.result
