"""A bad ``PRICING_API_KEYS`` is reported without echoing a key, in the exception and
in what ``python -m app`` prints at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-Key-9f2c"

BAD_KEYS = [
    f"checkout:{SECRET},root:{SECRET}x",  # unknown role
    f"checkout:ok,{SECRET}",  # no role
    f"{SECRET}:checkout",  # key and role swapped: the "role" is the key
    f"checkout:{SECRET},admin:{SECRET}",  # one key, two roles
    f"checkout:{SECRET},admin:",  # an empty key beside a good one
]


@pytest.mark.parametrize("raw", BAD_KEYS)
def test_a_bad_key_list_is_refused_without_echoing_it(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(pricing_api_keys=raw)
    shown = f"{caught.value}\n{caught.value!r}"
    assert "PRICING_API_KEYS entry" in shown
    assert SECRET not in shown


def test_settings_do_not_show_their_keys() -> None:
    settings = Settings(pricing_api_keys=f"admin:{SECRET}")
    assert settings.api_keys == {SECRET: "admin"}
    assert SECRET not in f"{settings}{settings!r}{settings.model_dump()}"


def test_start_up_with_bad_keys_prints_no_key(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env={
            **os.environ,
            "PRICING_API_KEYS": f"admin:{SECRET},{SECRET}",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode != 0
    assert "invalid configuration" in done.stderr
    assert "PRICING_API_KEYS entry 2" in done.stderr
    assert SECRET not in done.stdout + done.stderr
