"""Writing a signed audit export to disk with flat memory (the format is ztconsole.verify_export's).

Rows are streamed with ``values_list(...).iterator(chunk_size=...)`` straight into the files: no model
instances, no list of events, whatever the size. Progress is saved every ``PROGRESS_EVERY`` events.
"""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Max, Min, QuerySet

from ztconsole import verify_export
from ztconsole.auditverify import (
    GENESIS_HASH,
    HASHED_FIELDS,
    export_line,
    load_private_key,
    load_public_keys,
    public_key_pem,
)
from ztconsole.core.models import AuditEvent, AuditHead

CHUNK = 2000
PROGRESS_EVERY = 2000


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


def _file_entry(path: Path, rows: int) -> dict[str, Any]:
    with path.open("rb") as handle:
        digest, size = verify_export.file_sha256(handle)
    return {"name": path.name, "sha256": digest, "bytes": size, "rows": rows}


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

    chain_path = folder / verify_export.CHAIN_FILE
    anchor, last_hash, links = GENESIS_HASH, GENESIS_HASH, 0
    with chain_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(verify_export.CHAIN_COLUMNS)
        for seq, prev_hash, event_hash in (
            in_range.order_by("seq").values_list("seq", "prev_hash", "hash").iterator(chunk_size=CHUNK * 5)
        ):
            if links == 0:
                anchor = prev_hash
            writer.writerow((seq, prev_hash, event_hash))
            last_hash = event_hash
            links += 1

    events_path = folder / verify_export.EVENT_FILES[fmt]
    rows = selected(_window(filters, covered.head_seq), filters).filter(
        seq__gte=covered.first_seq, seq__lte=covered.last_seq
    )
    count = 0
    with events_path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(verify_export.CSV_COLUMNS)
        created_index = HASHED_FIELDS.index("created_at")
        for row in rows.order_by("seq").values_list(*HASHED_FIELDS, "hash").iterator(chunk_size=CHUNK):
            values = list(row[:-1])
            values[created_index] = timestamp(values[created_index])
            if writer is not None:
                writer.writerow(verify_export.csv_row(tuple(values), row[-1]))
            else:
                handle.write(export_line(tuple(values), row[-1]) + "\n")
            count += 1
            if count % PROGRESS_EVERY == 0:
                progress(count)
    progress(count)

    manifest = {
        "format": verify_export.EXPORT_FORMAT,
        "kind": "audit-events",
        "requested": requested,
        "filters": filters,
        "events_file": events_path.name,
        "event_count": count,
        "range": {
            "first_seq": covered.first_seq,
            "last_seq": covered.last_seq,
            "prev_hash": anchor if links else None,
            "last_hash": last_hash if links else None,
            "head_seq_at_export": covered.head_seq,
        },
        "files": [_file_entry(events_path, count), _file_entry(chain_path, links)],
    }
    signed = verify_export.sign_manifest(signing_key(), manifest)
    (folder / verify_export.MANIFEST).write_text(
        json.dumps(signed, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return signed


def archive(folder: Path, destination: Path) -> None:
    """Zip ``folder`` (one top folder inside the archive) to ``destination``, then remove the folder."""
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.iterdir()):
            bundle.write(path, f"{folder.name}/{path.name}")
    shutil.rmtree(folder)
