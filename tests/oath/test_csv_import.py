"""CSV seed import: ``serial,key,type,digits,counter|step``, one token per line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.oath.otp import OathParams, totp
from accounts.oath.seeds import ImportResult, Rejected, SeedFileError, TokenSeed, parse_oath_csv

RFC_SHA1 = "3132333435363738393031323334353637383930"
GOOD = f"GOOD-1,{RFC_SHA1},hotp,6,0"


def _rejections(result: ImportResult) -> list[tuple[str, str]]:
    return [(r.serial, r.reason) for r in result.rejected]


def test_sample_file_imports_every_row(sample: Callable[[str], bytes]) -> None:
    result = parse_oath_csv(sample("tokens.csv").decode())
    assert result.rejected == []
    assert [(s.serial, s.params, s.counter) for s in result.seeds] == [
        ("HOTP-A", OathParams(kind="hotp"), 0),
        ("HOTP-B", OathParams(kind="hotp", algorithm="SHA256", digits=8), 17),
        ("TOTP-C", OathParams(kind="totp", algorithm="SHA256", digits=8, period=30), 0),
        ("TOTP-D", OathParams(kind="totp", algorithm="SHA512", digits=6, period=60), 0),
        ("TOTP-E", OathParams(kind="totp"), 0),
    ]
    assert result.seeds[0].key == b"12345678901234567890"
    # The SHA-256 row holds RFC 6238's SHA-256 seed: its Appendix B code at 59 s proves the hex decoded.
    assert totp(result.seeds[2].key, 59, digits=8, algorithm="SHA256") == "46119246"


def test_a_good_row_gives_a_token_seed() -> None:
    result = parse_oath_csv(GOOD)
    assert result == ImportResult(
        seeds=[TokenSeed(serial="GOOD-1", key=b"12345678901234567890", params=OathParams(kind="hotp"))],
        rejected=[],
    )


@pytest.mark.parametrize(
    ("type_text", "algorithm"),
    [
        ("totp", "SHA1"),
        ("TOTP", "SHA1"),
        ("totp/sha1", "SHA1"),
        ("totp/sha256", "SHA256"),
        ("totp/SHA-256", "SHA256"),
        ("totp-sha256", "SHA256"),
        ("totp/sha512", "SHA512"),
        ("Totp/Sha512", "SHA512"),
    ],
)
def test_type_may_carry_a_hash(type_text: str, algorithm: str) -> None:
    result = parse_oath_csv(f"T-1,{RFC_SHA1},{type_text},6,30")
    assert result.seeds[0].params == OathParams(kind="totp", algorithm=algorithm)


def test_blank_lines_comments_whitespace_and_crlf_are_tolerated() -> None:
    text = f"# header\r\n\r\n  # indented comment\r\n  GOOD-1 , {RFC_SHA1.upper()} , hotp , 8 , 5 \r\n\r\n"
    (seed,) = parse_oath_csv(text).seeds
    assert (seed.serial, seed.params.digits, seed.counter) == ("GOOD-1", 8, 5)


def test_utf8_bytes_with_a_byte_order_mark_are_read() -> None:
    result = parse_oath_csv(("\ufeff" + GOOD + "\n").encode())
    assert [s.serial for s in result.seeds] == ["GOOD-1"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("BAD,zz32333435363738393031323334353637383930,hotp,6,0", "key is not valid hexadecimal"),
        (
            "BAD,313233343536373839303132333435363738393,hotp,6,0",
            "key is not valid hexadecimal",
        ),  # odd length
        ("BAD,0x31323334353637383930313233343536373839,hotp,6,0", "key is not valid hexadecimal"),
        ("BAD,31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36,hotp,6,0", "key is not valid hexadecimal"),
        ("BAD,,hotp,6,0", "key is not valid hexadecimal"),
        ("BAD,313233343536373839303132333435,hotp,6,0", "key shorter than 16 bytes"),
        (f"BAD,{RFC_SHA1},ocra,6,0", "unknown token type"),
        (f"BAD,{RFC_SHA1},hotp/md5,6,0", "unknown token type"),
        (f"BAD,{RFC_SHA1},totp/sha384,6,30", "unknown token type"),
        (f"BAD,{RFC_SHA1},,6,0", "unknown token type"),
        (f"BAD,{RFC_SHA1},hotp,7,0", "unsupported number of digits (6 or 8 only)"),
        (f"BAD,{RFC_SHA1},hotp,six,0", "unsupported number of digits (6 or 8 only)"),
        (f"BAD,{RFC_SHA1},hotp,,0", "unsupported number of digits (6 or 8 only)"),
        (f"BAD,{RFC_SHA1},totp,6,45", "unsupported time step (30 or 60 seconds only)"),
        (f"BAD,{RFC_SHA1},totp,6,0", "unsupported time step (30 or 60 seconds only)"),
        (f"BAD,{RFC_SHA1},hotp,6,-1", "last column must be the HOTP counter or the TOTP step"),
        (f"BAD,{RFC_SHA1},hotp,6,", "last column must be the HOTP counter or the TOTP step"),
        (f"BAD,{RFC_SHA1},hotp,6,{2**64}", "counter out of range"),
    ],
)
def test_bad_row_is_rejected_and_the_others_import(row: str, reason: str) -> None:
    result = parse_oath_csv(f"{GOOD}\n{row}\nGOOD-3,{RFC_SHA1},totp,8,60\n")
    assert [s.serial for s in result.seeds] == ["GOOD-1", "GOOD-3"]
    ((serial, full_reason),) = _rejections(result)
    assert serial == "BAD"
    assert full_reason.startswith(f"row 2: {reason}")


@pytest.mark.parametrize(
    "row",
    [
        f"MISSING,{RFC_SHA1},hotp,6",
        f"{RFC_SHA1},hotp,6,0",  # serial missing: the first column here is the key
        f"EXTRA,{RFC_SHA1},hotp,6,0,alice",
        "just-one-column",
    ],
)
def test_row_with_the_wrong_number_of_columns_is_rejected_by_row_number(row: str) -> None:
    result = parse_oath_csv(f"# comment\n{GOOD}\n\n{row}\n")
    assert [s.serial for s in result.seeds] == ["GOOD-1"]
    (rejection,) = result.rejected
    # The first column may be anything (the key, in the second case): the row number names the row.
    assert rejection.serial == "row 4"
    assert rejection.reason.startswith("row 4: expected 5 columns (serial,key,type,digits,counter|step)")
    assert RFC_SHA1 not in rejection.serial + rejection.reason


def test_row_without_a_serial_is_rejected() -> None:
    result = parse_oath_csv(f" ,{RFC_SHA1},hotp,6,0")
    assert result.rejected == [Rejected(serial="row 1", reason="row 1: missing serial")]


def test_duplicate_serial_rejects_the_later_row() -> None:
    result = parse_oath_csv(f"{GOOD}\nGOOD-1,{'00' * 20},totp,6,30\n")
    assert [s.key for s in result.seeds] == [b"12345678901234567890"]
    assert _rejections(result) == [("GOOD-1", "row 2: duplicate serial in file")]


def test_reasons_never_contain_key_material() -> None:
    short_key = "31323334353637383930"
    result = parse_oath_csv(f"A,{short_key},hotp,6,0\nB,{short_key}zz,hotp,6,0\nC,{short_key},xotp,6,0")
    assert len(result.rejected) == 3
    for rejection in result.rejected:
        assert short_key not in rejection.reason
        assert short_key not in rejection.serial


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n\n   # and another\n", "\ufeff"])
def test_file_without_data_rows_is_refused(text: str) -> None:
    with pytest.raises(SeedFileError, match="no data rows"):
        parse_oath_csv(text)


def test_file_where_every_row_is_bad_is_not_refused() -> None:
    # Rows were read: the administrator gets one reason per row rather than a single error.
    result = parse_oath_csv("a,b,c,d,e\nf,g\n")
    assert result.seeds == []
    assert len(result.rejected) == 2


@pytest.mark.parametrize(
    "data",
    [
        b"GOOD-1,3132,hotp,6,0\n\xff\xfe\n",
        "GOOD-1,31323334,hotp,6,0\n".encode("utf-16"),
        "SÉRIE,3132,hotp,6,0".encode("latin-1"),
    ],
)
def test_bytes_that_are_not_utf8_are_refused(data: bytes) -> None:
    with pytest.raises(SeedFileError, match="not UTF-8 text"):
        parse_oath_csv(data)


def test_text_with_undecodable_bytes_is_refused() -> None:
    # A caller that decoded with errors="surrogateescape" passes lone surrogates through.
    text = b"GOOD-1,3132,hotp,6,0\n\xff".decode("utf-8", errors="surrogateescape")
    with pytest.raises(SeedFileError, match="not UTF-8 text"):
        parse_oath_csv(text)


def test_binary_content_is_refused() -> None:
    with pytest.raises(SeedFileError, match="not text"):
        parse_oath_csv(f"{GOOD}\n\x00\x00")
