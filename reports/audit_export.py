"""Writing a signed audit export to disk with flat memory (the format is ztconsole.verify_export's).

Rows are read a chunk at a time from a plain database cursor (server-side on PostgreSQL) and written straight into
the files, each hashed as it is written: no model instances, no per-value converters, no list of events, no file
read back, so memory stays flat whatever the size. Progress is saved every ``PROGRESS_EVERY`` events. The archive
is deflated at the fastest level (text still shrinks about fivefold).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Max, Min, QuerySet

from ztconsole import verify_export
from ztconsole.auditverify import (
    GENESIS_HASH,
    HASHED_FIELDS,
    encode_details,
    export_line,
    layout,
    load_private_key,
    load_public_keys,
    public_key_pem,
)
from ztconsole.core.models import AuditEvent, AuditHead

CHUNK = 2000
PROGRESS_EVERY = 10000
WRITE_BUFFER = 1 << 20
# deflate's fastest level: the files are text and still shrink about 5x, at a third of the default level's time.
ZIP_LEVEL = 1
_DETAILS = HASHED_FIELDS.index("details")
_TIMESTAMP = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
_quote = json.encoder.encode_basestring  # json.dumps's string form with ensure_ascii=False
# export_line's document (keys sorted, no whitespace, non-ASCII kept), laid out by hand: twice as fast at 1M rows.
_JSONL_LAYOUT = (
    '{"action":%s,"actor_id":%s,"actor_label":%s,"created_at":%s,"details":%s,"hash":%s,"ip_address":%s,'
    '"prev_hash":%s,"request_id":%s,"seq":%d,"target_id":%s,"target_label":%s,"target_type":%s}\n'
)


def timestamp(value: datetime) -> str:
    """The chain's timestamp text (docs/audit.md): UTC, microseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def signing_key():
    return load_private_key(settings.ZT_EXPORT_SIGNING_KEY)


def public_keys_pem() -> str:
    """The current export public key, then the retired ones still trusted (key rotation)."""
    pems = [public_key_pem(signing_key().public_key())]
    if settings.ZT_EXPORT_PUBLIC_KEYS_FILE:
        for key in load_public_keys(Path(settings.ZT_EXPORT_PUBLIC_KEYS_FILE).read_text()).values():
            pem = public_key_pem(key)
            if pem not in pems:
                pems.append(pem)
    return "".join(pems)


def _window(filters: dict[str, Any], head_seq: int) -> QuerySet:
    """Every event of the covered period (whoever the actor), up to the head when the export started."""
    queryset = AuditEvent.objects.filter(seq__lte=head_seq)
    if filters.get("since"):
        queryset = queryset.filter(created_at__gte=parse_timestamp(filters["since"]))
    if filters.get("until"):
        queryset = queryset.filter(created_at__lt=parse_timestamp(filters["until"]))
    return queryset


def selected(window: QuerySet, filters: dict[str, Any]) -> QuerySet:
    if filters.get("actor"):
        window = window.filter(actor_label=filters["actor"])
    if filters.get("action_prefix"):
        window = window.filter(action__startswith=filters["action_prefix"])
    return window


@dataclass
class Plan:
    """What one export covers, fixed before any row is written."""

    head_seq: int
    first_seq: int
    last_seq: int
    total: int


def plan(filters: dict[str, Any]) -> Plan:
    head = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    window = _window(filters, head)
    bounds = window.aggregate(first=Min("seq"), last=Max("seq"))
    if bounds["first"] is None:
        return Plan(head, 1, 0, 0)  # an empty range: last < first
    # The range is contiguous in seq: every event between the first and last of the period.
    return Plan(head, bounds["first"], bounds["last"], selected(window, filters).count())


def file_entry(path: Path, rows: int) -> dict[str, Any]:
    """The manifest's entry of a file already written (read back to be hashed)."""
    with path.open("rb") as handle:
        digest, size = verify_export.file_sha256(handle)
    return {"name": path.name, "sha256": digest, "bytes": size, "rows": rows}


class _HashingWriter(io.RawIOBase):
    """A binary file that hashes what is written to it, so no file is read back to be hashed."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.name = path.name
        self.handle = path.open("wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def close(self) -> None:
        if not self.closed:
            self.handle.close()
        super().close()

    def entry(self, rows: int) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.digest.hexdigest(), "bytes": self.size, "rows": rows}


def _text_writer(path: Path) -> tuple[_HashingWriter, io.TextIOWrapper]:
    raw = _HashingWriter(path)
    # A large buffer: the hash and the disk see a few big writes, not one per row.
    return raw, io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=WRITE_BUFFER), encoding="utf-8", newline="")


def _rows(queryset: QuerySet, fields: tuple[str, ...]) -> Iterator[list[tuple]]:
    """The rows of ``queryset`` (``fields`` only, as the database driver gives them), a chunk at a time.

    A plain cursor instead of ``values_list().iterator()``: no per-value converter calls (the caller turns the two
    typed columns into the chain's text itself), and on PostgreSQL a server-side cursor (Django's chunked cursor,
    the one ``iterator()`` uses), so memory stays flat whatever the size.
    """
    sql, params = queryset.values_list(*fields).query.sql_with_params()
    # As iterator() does: no named cursor where the operator disabled them (a transaction-pooling PgBouncer).
    server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with connection.chunked_cursor() if server_side else connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk


def _timestamp_text(value: Any) -> str:
    """``created_at`` as the chain's text, from what the driver gives: an aware datetime (PostgreSQL) or the text
    Django stored (SQLite: ``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC)."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
    if value.utcoffset():
        value = value.astimezone(UTC)
    return _TIMESTAMP % (value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


def _event_text(row: tuple, try_text: bool) -> tuple[tuple, str]:
    """The hashed values of a database row (``created_at`` as text) and the details' canonical JSON text.

    The stored details text is kept as it is when the event laid out with it hashes to the stored hash (the console
    writes canonical JSON on SQLite): it is then the canonical text. Otherwise it is parsed and encoded again, so
    the file holds what the database holds, whatever that is.
    """
    values = (row[0], _timestamp_text(row[1]), *row[2:-1])
    details = values[_DETAILS]
    if isinstance(details, str):
        if try_text:
            try:
                if hashlib.sha256(layout(values, details)).hexdigest() == row[-1]:
                    return values, details
            except TypeError:
                pass
        details = json.loads(details)
        values = (*values[:_DETAILS], details, *values[_DETAILS + 1 :])
    return values, encode_details(details)


def _jsonl_line(values: tuple, details_text: str, stored_hash: str) -> str:
    """One line of events.jsonl: export_line's document, laid out by hand when the values have the console's
    types (export_line otherwise)."""
    seq, created_at, actor_id, actor_label, action, target_type, target_id, target_label = values[:8]
    ip_address, request_id, prev_hash = values[9:12]
    if (
        type(seq) is not int
        or (actor_id is not None and type(actor_id) is not int)
        or (ip_address is not None and type(ip_address) is not str)
        or not all(type(value) is str for value in (actor_label, action, target_type, target_id, target_label))
        or not all(type(value) is str for value in (request_id, prev_hash, stored_hash))
    ):
        return export_line((*values[:_DETAILS], json.loads(details_text), *values[_DETAILS + 1 :]), stored_hash) + "\n"
    return _JSONL_LAYOUT % (
        _quote(action),
        "null" if actor_id is None else actor_id,
        _quote(actor_label),
        _quote(created_at),
        details_text,
        _quote(stored_hash),
        "null" if ip_address is None else _quote(ip_address),
        _quote(prev_hash),
        _quote(request_id),
        seq,
        _quote(target_id),
        _quote(target_label),
        _quote(target_type),
    )


def write_export(
    folder: Path,
    *,
    fmt: str,
    filters: dict[str, Any],
    covered: Plan,
    requested: dict[str, Any],
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Write events, chain.csv and the signed manifest.json into ``folder``; returns the signed manifest."""
    folder.mkdir(parents=True)
    in_range = AuditEvent.objects.filter(seq__gte=covered.first_seq, seq__lte=covered.last_seq)

    anchor, last_hash, links = GENESIS_HASH, GENESIS_HASH, 0
    chain_file, handle = _text_writer(folder / verify_export.CHAIN_FILE)
    with handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(verify_export.CHAIN_COLUMNS)
        for chunk in _rows(in_range.order_by("seq"), ("seq", "prev_hash", "hash")):
            if links == 0:
                anchor = chunk[0][1]
            writer.writerows(chunk)
            last_hash = chunk[-1][2]
            links += len(chunk)

    rows = selected(_window(filters, covered.head_seq), filters).filter(
        seq__gte=covered.first_seq, seq__lte=covered.last_seq
    )
    # SQLite keeps details as the canonical text the console wrote; PostgreSQL's jsonb prints its own way.
    try_text = connection.vendor == "sqlite"
    count = 0
    events_file, handle = _text_writer(folder / verify_export.EVENT_FILES[fmt])
    with handle:
        write, writer = handle.write, csv.writer(handle, lineterminator="\n")
        if fmt == "csv":
            writer.writerow(verify_export.CSV_COLUMNS)
        for chunk in _rows(rows.order_by("seq"), (*HASHED_FIELDS, "hash")):
            for row in chunk:
                values, details_text = _event_text(row, try_text)
                if fmt == "csv":
                    # csv writes None as an empty cell and a number as str() does: verify_export.csv_row's form.
                    writer.writerow((*values[:_DETAILS], details_text, *values[_DETAILS + 1 :], row[-1]))
                else:
                    write(_jsonl_line(values, details_text, row[-1]))
            count += len(chunk)
            if count // PROGRESS_EVERY != (count - len(chunk)) // PROGRESS_EVERY:
                progress(count)
    progress(count)

    manifest = {
        "format": verify_export.EXPORT_FORMAT,
        "kind": "audit-events",
        "requested": requested,
        "filters": filters,
        "events_file": events_file.name,
        "event_count": count,
        "range": {
            "first_seq": covered.first_seq,
            "last_seq": covered.last_seq,
            "prev_hash": anchor if links else None,
            "last_hash": last_hash if links else None,
            "head_seq_at_export": covered.head_seq,
        },
        "files": [events_file.entry(count), chain_file.entry(links)],
    }
    signed = verify_export.sign_manifest(signing_key(), manifest)
    (folder / verify_export.MANIFEST).write_text(
        json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return signed


def archive(folder: Path, destination: Path) -> None:
    """Zip ``folder`` (one top folder inside the archive) to ``destination``, then remove the folder."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as bundle:
        for path in sorted(folder.iterdir()):
            bundle.write(path, f"{folder.name}/{path.name}")
    shutil.rmtree(folder)
