"""Signed audit exports: their format, and the examiner's offline verifier.

Standard library plus ``cryptography`` only (no Django, no database). The console imports this module to
write and sign exports, so the format is defined once; an examiner runs it on their own machine::

    python -m ztconsole.verify_export EXPORT.zip --public-key console-export.pub
    python -m ztconsole.verify_export JANUARY.zip FEBRUARY.zip --public-key console-export.pub
    python -m ztconsole.verify_export audit-archive-….zip LIVE-EXPORT.zip --public-key console-export.pub

A report export (``"kind": "report"``) holds the report's tables (CSV or JSON Lines) or its PDF: its signature and
every file's SHA-256 are verified. An audit export is a folder (or a zip of one) holding ``manifest.json``, the
events file (``events.jsonl`` or
``events.csv``) and ``chain.csv``. The events file holds the events the filters selected, each with every
field its hash covers. ``chain.csv`` holds ``seq,prev_hash,hash`` of *every* event of the covered range, not only
the selected ones: it proves the selected events sit in one unbroken chain without disclosing the others. Each
event's hash is recomputed with ``ztconsole.auditverify.canonical_event``, the one definition the console
hashes with. docs/compliance.md describes the format for examiners.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import io
import itertools
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ztconsole.auditverify import (
    HASHED_FIELDS,
    KeyFormatError,
    encode_details,
    event_hash,
    key_id,
    layout,
    load_public_keys,
)

EXPORT_FORMAT = "ztconsole-audit-export/1"
AUDIT_KIND = "audit-events"
REPORT_KIND = "report"  # a compliance report (reports/report_export.py): tables and a PDF, no audit chain
MANIFEST = "manifest.json"
CHAIN_FILE = "chain.csv"
EVENT_FILES = {"jsonl": "events.jsonl", "csv": "events.csv"}
CSV_COLUMNS = (*HASHED_FIELDS, "hash")
CHAIN_COLUMNS = ("seq", "prev_hash", "hash")
SIGNATURE_ALGORITHM = "Ed25519"
_READ_CHUNK = 1 << 20
_CREATED_AT, _ACTOR_LABEL, _ACTION, _DETAILS = (
    HASHED_FIELDS.index(name) for name in ("created_at", "actor_label", "action", "details")
)

csv.field_size_limit(1 << 24)  # details of one event can be long; the default 128 KiB limit is not a format rule


# --- writing (used by the console) ---------------------------------------------------------------------


def csv_row(values: tuple, stored_hash: str) -> list[str]:
    """One event as a row of events.csv: ``details`` as its canonical JSON text, None as an empty cell."""
    row = []
    for name, value in zip(HASHED_FIELDS, values, strict=True):
        if name == "details":
            row.append(encode_details(value))
        elif value is None:
            row.append("")
        else:
            row.append(str(value))
    row.append(stored_hash)
    return row


def signed_bytes(manifest: dict[str, Any]) -> bytes:
    """What the signature covers: the manifest without its ``signature`` member, as canonical JSON."""
    document = {key: value for key, value in manifest.items() if key != "signature"}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_manifest(key: Ed25519PrivateKey, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its ``signature`` member: algorithm, key id, base64 signature."""
    signature = key.sign(signed_bytes(manifest))
    return {
        **manifest,
        "signature": {
            "algorithm": SIGNATURE_ALGORITHM,
            "key_id": key_id(key.public_key()),
            "value": base64.b64encode(signature).decode(),
        },
    }


def file_sha256(handle: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while block := handle.read(_READ_CHUNK):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


# --- reading an export ---------------------------------------------------------------------------------


class _ChainBroken(Exception):
    """Stops the walk at the first break of chain.csv (already reported)."""


class ExportUnreadable(Exception):
    """The path is not an export at all (no manifest, not a zip, not JSON): nothing can be verified."""


class _Export:
    """A folder or a zip archive, read member by member (never loaded whole)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.prefix = ""
        if path.is_dir():
            return
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ExportUnreadable(f"{path}: neither a folder nor a zip archive ({exc})") from None
        # The console's archives hold one top folder; accept members at the root too.
        manifests = [name for name in self.zip.namelist() if name.rsplit("/", 1)[-1] == MANIFEST]
        if len(manifests) != 1:
            raise ExportUnreadable(f"{path}: expected exactly one {MANIFEST} in the archive, found {len(manifests)}")
        self.prefix = manifests[0][: -len(MANIFEST)]

    def names(self) -> set[str]:
        if self.zip is None:
            return {item.name for item in self.path.iterdir() if item.is_file()}
        return {
            name[len(self.prefix) :]
            for name in self.zip.namelist()
            if name.startswith(self.prefix) and not name.endswith("/")
        }

    def open(self, name: str) -> IO[bytes]:
        if self.zip is None:
            return (self.path / name).open("rb")
        return self.zip.open(self.prefix + name)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


@dataclass
class Report:
    path: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        self.problems.append(text)


def _load_manifest(export: _Export) -> dict[str, Any]:
    try:
        with export.open(MANIFEST) as handle:
            manifest = json.loads(handle.read().decode("utf-8"))
    except (OSError, KeyError) as exc:
        raise ExportUnreadable(f"{export.path}: no {MANIFEST} ({exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportUnreadable(f"{export.path}: {MANIFEST} is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ExportUnreadable(f"{export.path}: {MANIFEST} is not a {EXPORT_FORMAT} manifest")
    return manifest


def _check_signature(manifest: dict[str, Any], keys: dict[str, Ed25519PublicKey], report: Report) -> None:
    signature = manifest.get("signature")
    if not isinstance(signature, dict):
        report.problem(f"{MANIFEST}: not signed (no signature member)")
        return
    kid = signature.get("key_id")
    if signature.get("algorithm") != SIGNATURE_ALGORITHM:
        report.problem(f"{MANIFEST}: signature algorithm {signature.get('algorithm')!r} is not {SIGNATURE_ALGORITHM}")
        return
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        known = ", ".join(sorted(keys)) or "none"
        report.problem(f"{MANIFEST}: signed with key {kid!r}, which is not among the given public keys ({known})")
        return
    try:
        key.verify(base64.b64decode(str(signature.get("value", "")), validate=True), signed_bytes(manifest))
    except (InvalidSignature, binascii.Error, ValueError):
        report.problem(f"{MANIFEST}: signature does not verify with key {kid}: the manifest was changed after signing")
        return
    report.notes.append(f"{MANIFEST}: signature valid (Ed25519, key {kid})")


def _check_files(export: _Export, manifest: dict[str, Any], report: Report) -> None:
    files = manifest.get("files")
    if not isinstance(files, list) or not files:
        report.problem(f"{MANIFEST}: no files listed")
        return
    present = export.names()
    listed = set()
    for entry in files:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            report.problem(f"{MANIFEST}: a files entry has no name")
            continue
        listed.add(name)
        if name not in present:
            report.problem(f"{name}: listed in the manifest but missing from the export")
            continue
        with export.open(name) as handle:
            digest, size = file_sha256(handle)
        if digest != entry.get("sha256"):
            report.problem(
                f"{name}: SHA-256 {digest} differs from the manifest's {entry.get('sha256')}: the file was changed"
            )
        elif size != entry.get("bytes"):
            report.problem(f"{name}: {size} bytes, the manifest says {entry.get('bytes')}")
    extra = present - listed - {MANIFEST}
    for name in sorted(extra):
        report.problem(f"{name}: in the export but not listed in the manifest")


def _text(handle: IO[bytes]) -> io.TextIOWrapper:
    return io.TextIOWrapper(handle, encoding="utf-8", newline="")


def _chain_rows(export: _Export, report: Report) -> Iterator[tuple[int, str, str]]:
    with export.open(CHAIN_FILE) as raw:
        reader = csv.reader(_text(raw))
        header = next(reader, None)
        if tuple(header or ()) != CHAIN_COLUMNS:
            report.problem(f"{CHAIN_FILE}: header is {header}, expected {list(CHAIN_COLUMNS)}")
            return
        for number, row in enumerate(reader, 2):
            if len(row) != 3 or not row[0].isdigit():
                report.problem(f"{CHAIN_FILE} line {number}: not seq,prev_hash,hash")
                return
            yield int(row[0]), row[1], row[2]


def _event_values_from_csv(row: list[str]) -> tuple:
    """The hashed values of an events.csv row, ``details`` still as its JSON text."""
    return (
        int(row[0]),
        row[1],
        int(row[2]) if row[2] else None,
        *row[3:8],
        row[8],
        row[9] or None,
        row[10],
        row[11],
    )


def _hash_of(values: tuple, details_text: str | None) -> str:
    """The event's hash recomputed with auditverify's encoding.

    ``details_text``: the details as the file holds them when they may already be canonical JSON (CSV). Laid out
    as they are first (auditverify.layout, the fast form of canonical_event); only when that does not give the
    stored hash are they parsed and re-encoded, so a changed event is still judged on its content.
    """
    if details_text is not None:
        try:
            return hashlib.sha256(layout(values, details_text)).hexdigest()
        except TypeError:
            pass
    details = values[_DETAILS]
    try:
        return hashlib.sha256(layout(values, encode_details(details))).hexdigest()
    except TypeError:
        return event_hash(values)


def _canonical_from_line(line: str, stored: str) -> bytes | None:
    """The bytes an events.jsonl line's hash covers, when the console wrote the line: the line is then the event's
    canonical encoding with the ``hash`` member added after ``details`` (keys sorted), so removing that member gives
    them back without encoding the event again. Only a shortcut: the caller accepts these bytes only when they hash
    to ``stored`` (which proves they are the canonical encoding), and encodes the parsed values otherwise."""
    if type(stored) is not str:
        return None
    needle = ',"hash":"' + stored + '"'
    at = line.rfind(needle)
    if at < 0:
        return None
    return (line[:at] + line[at + len(needle) :]).rstrip("\r\n").encode()


def _event_rows(
    export: _Export, name: str, report: Report
) -> Iterator[tuple[int, tuple, str, str | None, bytes | None]]:
    """(line number, values in HASHED_FIELDS order, stored hash, details text or None, bytes that may be the
    canonical encoding or None) per event of the file."""
    with export.open(name) as raw:
        text = _text(raw)
        if name.endswith(".csv"):
            reader = csv.reader(text)
            header = next(reader, None)
            if tuple(header or ()) != CSV_COLUMNS:
                report.problem(f"{name}: header is {header}, expected {list(CSV_COLUMNS)}")
                return
            width = len(CSV_COLUMNS)
            for number, row in enumerate(reader, 2):
                try:
                    if len(row) != width:
                        raise ValueError(f"{len(row)} columns, expected {width}")
                    values = _event_values_from_csv(row)
                except ValueError as exc:
                    report.problem(f"{name} line {number}: not an audit event ({exc})")
                    return
                yield number, values, row[-1], row[8], None
        else:
            for number, line in enumerate(text, 1):
                if not line.strip():
                    continue
                try:
                    document = json.loads(line)
                    values = tuple(document[field_name] for field_name in HASHED_FIELDS)
                    stored = document["hash"]
                except (ValueError, KeyError, TypeError) as exc:
                    report.problem(f"{name} line {number}: not an audit event ({exc.__class__.__name__}: {exc})")
                    return
                yield number, values, stored, None, _canonical_from_line(line, stored)


def _matches_filters(values: tuple, filters: dict[str, Any]) -> str:
    """ "" when the event is one the export's filters select, else which filter it fails."""
    actor, action, created_at = values[_ACTOR_LABEL], values[_ACTION], values[_CREATED_AT]
    if filters.get("actor") and actor != filters["actor"]:
        return f"actor {actor!r} is not {filters['actor']!r}"
    if filters.get("action_prefix") and not str(action).startswith(filters["action_prefix"]):
        return f"action {action!r} does not start with {filters['action_prefix']!r}"
    # Timestamps are all YYYY-MM-DDTHH:MM:SS.ffffffZ, so text order is time order.
    if filters.get("since") and created_at < filters["since"]:
        return f"created_at {created_at} is before {filters['since']}"
    if filters.get("until") and created_at >= filters["until"]:
        return f"created_at {created_at} is not before {filters['until']}"
    return ""


def _check_chain_and_events(export: _Export, manifest: dict[str, Any], report: Report) -> None:
    before = len(report.problems)
    covered = manifest.get("range")
    events_name = manifest.get("events_file")
    if not isinstance(covered, dict) or events_name not in EVENT_FILES.values():
        report.problem(f"{MANIFEST}: range or events_file missing")
        return
    first, last = covered.get("first_seq"), covered.get("last_seq")
    anchor, last_hash = covered.get("prev_hash"), covered.get("last_hash")
    filters = manifest.get("filters") or {}
    chain = _chain_rows(export, report)
    expected_seq, expected_prev = first, anchor
    current: tuple[int, str, str] | None = None
    chained = selected = 0

    def advance_to(seq: int) -> tuple[int, str, str] | None:
        """Walk chain.csv (checking its continuity) up to ``seq``; the row for ``seq`` or None."""
        nonlocal current, expected_seq, expected_prev, chained
        while current is None or current[0] < seq:
            current = next(chain, None)
            if current is None:
                return None
            row_seq, prev_hash, row_hash = current
            if row_seq != expected_seq:
                report.problem(f"{CHAIN_FILE}: seq {row_seq} where seq {expected_seq} was expected (event missing)")
                raise _ChainBroken
            if prev_hash != expected_prev:
                report.problem(
                    f"{CHAIN_FILE}: seq {row_seq}: prev_hash {prev_hash[:16]}… does not match the hash before it "
                    f"({str(expected_prev)[:16]}…): the chain is broken here"
                )
                raise _ChainBroken
            expected_seq, expected_prev = row_seq + 1, row_hash
            chained += 1
        return current if current[0] == seq else None

    try:
        last_seen = 0
        for number, values, stored, details_text, canonical in _event_rows(export, events_name, report):
            seq = values[0]
            where = f"{events_name} line {number}: event seq {seq}"
            if not isinstance(seq, int) or seq <= last_seen:
                report.problem(f"{where}: out of order (after seq {last_seen})")
                return
            last_seen = seq
            selected += 1
            if not isinstance(first, int) or not isinstance(last, int) or not first <= seq <= last:
                report.problem(f"{where}: outside the manifest's range {first}..{last}")
                return
            try:
                recomputed = hashlib.sha256(canonical).hexdigest() if canonical is not None else ""
                if recomputed != stored:
                    recomputed = _hash_of(values, details_text)
                if recomputed != stored and details_text is not None:
                    # Not the canonical text: parse it, so a re-encoded but equal document still counts.
                    values = (*values[:_DETAILS], json.loads(details_text), *values[_DETAILS + 1 :])
                    recomputed = _hash_of(values, None)
            except (TypeError, ValueError) as exc:
                report.problem(f"{where}: cannot be encoded ({exc})")
                return
            if recomputed != stored:
                report.problem(f"{where}: content does not match its hash (the event was modified)")
                return
            link = advance_to(seq)
            if link is None:
                report.problem(f"{where}: not in {CHAIN_FILE}")
                return
            if link[2] != stored or link[1] != values[HASHED_FIELDS.index("prev_hash")]:
                report.problem(f"{where}: its hashes differ from {CHAIN_FILE} at seq {seq}")
                return
            mismatch = _matches_filters(values, filters) if filters else ""
            if mismatch:
                report.problem(f"{where}: not selected by the export's filters ({mismatch})")
                return
        if isinstance(last, int) and last >= (first or 1):
            advance_to(last)
        if next(chain, None) is not None:
            report.problem(f"{CHAIN_FILE}: rows beyond the manifest's last_seq {last}")
            return
    except _ChainBroken:
        return
    if len(report.problems) > before:
        return
    empty = isinstance(first, int) and isinstance(last, int) and last < first
    if not empty and (expected_seq - 1 != last or expected_prev != last_hash):
        report.problem(
            f"{CHAIN_FILE}: ends at seq {expected_seq - 1} with hash {str(expected_prev)[:16]}…, the manifest says "
            f"seq {last} with hash {str(last_hash)[:16]}… (events removed from the end)"
        )
        return
    if selected != manifest.get("event_count"):
        report.problem(f"{events_name}: {selected} events, the manifest says {manifest.get('event_count')}")
        return
    report.notes.append(
        f"chain continuous over seq {first}..{last} ({chained} links); {selected} exported events match their hashes"
    )


def verify_export(path: Path, keys: dict[str, Ed25519PublicKey]) -> Report:
    """Everything an examiner checks in one export; ``report.problems`` says exactly what is wrong."""
    report = Report(path)
    export = _Export(path)
    try:
        report.manifest = _load_manifest(export)
        _check_signature(report.manifest, keys, report)
        _check_files(export, report.manifest, report)
        kind = report.manifest.get("kind")
        if kind == REPORT_KIND:
            # A report holds tables, not audit events: its signature and every file's hash are the whole check.
            if report.ok:
                described = report.manifest.get("report") or {}
                report.notes.append(
                    f"report {described.get('name')!r} for {described.get('period')}: "
                    f"{len(report.manifest.get('files') or [])} files match the signed manifest"
                )
            return report
        if kind != AUDIT_KIND:
            report.problem(f"{MANIFEST}: kind {kind!r} is neither {AUDIT_KIND!r} nor {REPORT_KIND!r}")
            return report
        # Walked even when a file's hash is wrong, so the examiner also learns which event was changed.
        names = export.names()
        if report.manifest.get("events_file") in names and CHAIN_FILE in names:
            _check_chain_and_events(export, report.manifest, report)
        elif report.ok:
            report.problem(f"{MANIFEST}: an audit export without its events file or {CHAIN_FILE}")
    finally:
        export.close()
    return report


def compare_exports(first: Path, second: Path) -> list[str]:
    """Problems found by walking the two exports' chain.csv side by side over the seqs they share.

    Both exports were verified on their own first; the same seq with two different hashes means the audit log
    was rewritten between them (a rewrite consistent inside each export is still caught here).
    """
    reports = [Report(first), Report(second)]
    exports = [_Export(first), _Export(second)]
    try:
        rows = [_chain_rows(export, report) for export, report in zip(exports, reports, strict=True)]
        a, b = next(rows[0], None), next(rows[1], None)
        shared = 0
        while a is not None and b is not None:
            if a[0] < b[0]:
                a = next(rows[0], None)
            elif b[0] < a[0]:
                b = next(rows[1], None)
            else:
                if a[2] != b[2]:
                    return [
                        f"seq {a[0]}: hash {a[2][:16]}… in {first.name} but {b[2][:16]}… in {second.name}: "
                        "the audit log was changed between the two exports"
                    ]
                shared += 1
                a, b = next(rows[0], None), next(rows[1], None)
        problems = [problem for report in reports for problem in report.problems]
        if not problems and shared == 0 and continuity(first, second) is None:
            return [f"{first.name} and {second.name} share no event and do not follow each other: nothing to compare"]
        return problems
    finally:
        for export in exports:
            export.close()


def _range(path: Path) -> dict[str, Any]:
    export = _Export(path)
    try:
        covered = _load_manifest(export).get("range")
    finally:
        export.close()
    return covered if isinstance(covered, dict) else {}


def continuity(first: Path, second: Path) -> str | None:
    """How one export continues the other with no gap, when it does: the later one's first event follows the
    earlier one's last (seq + 1) and its ``prev_hash`` is that event's hash. This is how an archive written by
    audit retention and an export of the live chain after the cut verify together; None otherwise."""
    a, b = _range(first), _range(second)
    for (earlier, late), (earlier_name, late_name) in (((a, b), (first, second)), ((b, a), (second, first))):
        last, start = earlier.get("last_seq"), late.get("first_seq")
        if (
            isinstance(last, int)
            and isinstance(start, int)
            and last + 1 == start
            and earlier.get("last_hash")
            and earlier.get("last_hash") == late.get("prev_hash")
        ):
            return (
                f"{late_name.name} continues {earlier_name.name} with no gap: seq {start} follows seq {last}, and its "
                f"prev_hash is the last hash of {earlier_name.name} ({str(earlier['last_hash'])[:16]}…)"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ztconsole.verify_export",
        description="Verify signed ZT Console audit exports offline: signature, file hashes, chain continuity.",
    )
    parser.add_argument("exports", type=Path, nargs="+", help="export folder or zip; two or more are also compared")
    parser.add_argument("--public-key", type=Path, required=True, help="PEM file of the console's export key(s)")
    args = parser.parse_args(argv)
    try:
        keys = load_public_keys(args.public_key.read_text(encoding="utf-8"))
    except (OSError, KeyFormatError) as exc:
        print(f"error: {args.public_key}: {exc}", file=sys.stderr)
        return 2
    status = 0
    verified = []
    for path in args.exports:
        try:
            report = verify_export(path, keys)
        except (ExportUnreadable, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for note in report.notes:
            print(f"{path}: {note}")
        for problem in report.problems:
            print(f"{path}: FAIL: {problem}", file=sys.stderr)
        if report.ok:
            print(f"{path}: OK")
            if report.manifest.get("kind") != REPORT_KIND:  # a report has no chain to hold against another
                verified.append(path)
        else:
            status = 1
    for left, right in itertools.pairwise(verified):
        problems = compare_exports(left, right)
        for problem in problems:
            print(f"{left} vs {right}: FAIL: {problem}", file=sys.stderr)
        if problems:
            status = 1
        else:
            print(f"{left} vs {right}: " + (continuity(left, right) or "consistent on every event they share"))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
