"""The config file is validated key by key; the FIX codec frames and checks what the relay forwards."""

import re
import subprocess
import sys

import pytest
import simplefix

from pep.gateway import fix
from pep.gateway.config import ConfigError, parse_config
from tests.pep_gateway.harness import ROOT

GOOD = """
[pep]
name = "pep-1"
environment = "uat"
state_dir = "state"
public_keys = ["key.pem"]
[tls]
ca_chain = "key.pem"
certificate = "key.pem"
private_key = "key.pem"
[control]
listen = "127.0.0.1:9443"
[[listeners]]
listen = "0.0.0.0:9876"
target = "rfq-venue"
upstream = "venue.example:9877"
"""


@pytest.fixture
def base(tmp_path):
    (tmp_path / "key.pem").write_text("x")
    return tmp_path


def test_a_good_config_parses_with_defaults(base):
    config = parse_config(GOOD, base)
    assert config.listeners[0].upstream_server_name == "venue.example"
    assert config.max_bundle_age_seconds == 86400 and config.console_url is None
    assert config.state_dir == base / "state"
    assert config.step_up_approval_seconds == 0  # step-up for algorithms: off unless configured


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[pep]", "[pep]\nmax_age = 3"), "unknown key pep.max_age"),
        (('upstream = "venue.example:9877"', 'upstream = "venue.example"'), "listeners[0].upstream must be host:port"),
        (('listen = "127.0.0.1:9443"', "listen = 9443"), "control.listen must be a str"),
        (('public_keys = ["key.pem"]', 'public_keys = ["nope.pem"]'), "pep.public_keys: no such file"),
        (("[[listeners]]", "[[listeners]]\nmax_body_length = 10"), "listeners[0].max_body_length must be between"),
        (("[control]", '[console]\nurl = "ftp://x"\n[control]'), "console.url must be an http:// or https:// URL"),
        (("[control]", '[console]\nurl = "http://x"\n[control]'), "console.token_file is required"),
        (('target = "rfq-venue"\n', ""), "listeners[0].target is required"),
        (("[pep]", "[pep]\nname = 1\n[pepx]"), "unknown key pepx"),
        (
            ("[control]", "[console]\nstep_up_approval_seconds = 5\n[control]"),
            "console.step_up_approval_seconds needs console.url",
        ),
        (
            (
                "[control]",
                '[console]\nurl = "http://x"\ntoken_file = "key.pem"\nstep_up_approval_seconds = 11\n[control]',
            ),
            "console.step_up_approval_seconds (11) must not exceed listeners[0].logon_timeout_seconds (10)",
        ),
        (
            (
                "[control]",
                '[console]\nurl = "http://x"\ntoken_file = "key.pem"\nstep_up_approval_seconds = -1\n[control]',
            ),
            "console.step_up_approval_seconds must be between 0 and 300",
        ),
    ],
)
def test_bad_keys_are_named(base, change, message):
    with pytest.raises(ConfigError) as error:
        parse_config(GOOD.replace(*change, 1), base)
    assert message in str(error.value)


def test_serve_check_reports_a_bad_config_and_exits_non_zero(base):
    path = base / "pep.toml"
    path.write_text(GOOD.replace("[pep]", "[pep]\nmax_age = 3"))
    result = subprocess.run(
        [sys.executable, "-m", "pep", "serve", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "unknown key pep.max_age" in result.stderr
    path.write_text(GOOD)
    ok = subprocess.run(
        [sys.executable, "-m", "pep", "serve", "--config", str(path), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert ok.returncode == 0 and "PEP pep-1" in ok.stdout


def _simplefix(msg_type: str, *fields) -> bytes:
    msg = simplefix.FixMessage()
    msg.append_pair(8, "FIX.4.4")
    msg.append_pair(35, msg_type)
    for tag, value in fields:
        msg.append_pair(tag, value)
    return msg.encode()


def test_frames_split_across_reads_and_several_per_read():
    one = _simplefix("R", (49, "A"), (56, "B"), (34, 7), (131, "Q"))
    two = _simplefix("0", (49, "A"), (56, "B"), (34, 8))
    buf = bytearray(one[:10])
    assert fix.read_frames(buf, 4096) == []
    buf += one[10:] + two + two[:5]
    frames = fix.read_frames(buf, 4096)
    assert [(f.msg_type, f.seq, f.raw) for f in frames] == [("R", 7, one), ("0", 8, two)]
    assert bytes(buf) == two[:5]


def test_encode_and_renumber_agree_with_simplefix():
    raw = fix.encode("FIX.4.4", "j", [(49, "V"), (56, "C"), (34, 3), (58, "no")])
    parser = simplefix.FixParser()
    parser.append_buffer(fix.with_seq(raw, 12345))
    msg = parser.get_message()
    assert msg.get(34) == b"12345" and msg.get(58) == b"no"
    assert msg.encode() == fix.with_seq(raw, 12345)  # simplefix recomputes 9 and 10 identically


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"XX=FIX.4.4\x01", "garbage"),
        (b"8=FIX.4.4\x0135=A\x01", "BodyLength (9) must be the second field"),
        (b"8=FIX.4.4\x019=abc\x01", "not a number"),
        (b"8=FIX.4.4\x019=5\x0135=A\x0110=000\x01", "bad CheckSum"),
        (b"8=FIX.4.4\x019=4097\x01", "exceeds the limit of 4096"),
    ],
)
def test_malformed_input_is_named(data, error):
    with pytest.raises(fix.FixError, match=re.escape(error)):
        fix.read_frames(bytearray(data), 4096)


def test_the_documented_example_config_is_valid(tmp_path):
    example = ROOT / "docs" / "pep.example.toml"
    text = example.read_text()
    # its files live on a gateway host; point them at stand-ins here, keep every other key as documented
    for name in ("policy-signing.pub.pem", "ca-chain.pem", "pep.pem", "pep.key", "token"):
        (tmp_path / name).write_text("x")
        text = text.replace(f"/etc/ztpep/{name}", str(tmp_path / name))
    config = parse_config(text, tmp_path)
    assert config.environment == "prod" and config.listeners[0].target == "rfq-gateway"
    assert config.console_url == "https://console.example:8443"
    documented = (ROOT / "docs" / "pep.md").read_text()
    for key in (
        "max_bundle_age_seconds",
        "public_keys",
        "ca_chain",
        "token_file",
        "spool_max_bytes",
        "upstream_server_name",
        "logon_timeout_seconds",
        "max_body_length",
        "events_flush_interval_ms",
    ):
        assert re.search(rf"[`.]{key}`", documented), key


@pytest.mark.parametrize("bad", [b"x5=1", b"abc=1", b"49ALPHA"])
def test_a_logon_field_that_is_not_tag_equals_value_is_refused(bad):
    raw = fix.encode("FIX.4.4", "A", [(49, "ALPHA1"), (56, "VENUE"), (34, 1)]).replace(b"34=1", bad)
    frame = fix.Frame(raw, "A")
    with pytest.raises(fix.FixError, match="malformed field"):
        frame.pairs()
    assert fix.Frame(fix.encode("FIX.4.4", "A", [(58, "a=b 9=1")]), "A").fields()[58] == "a=b 9=1"
