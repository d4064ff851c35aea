from pathlib import Path
from typing import Any

import pytest

from gis_platform.admin.loader import display_name, split_unit_type
from gis_platform.db.urls import plain_url, redact, sqlalchemy_url
from gis_platform.settings import Settings
from gis_platform.text import fold, nfc


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Phường Đa Kao", "phuong da kao"),
        ("Thủ Dầu Một", "thu dau mot"),
        ("Trường học", "truong hoc"),
        ("Côn Đảo", "con dao"),
        ("already ascii", "already ascii"),
    ],
)
def test_fold_removes_vietnamese_diacritics(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_handles_decomposed_input() -> None:
    decomposed = "Tra\u0300ng"  # 'Tràng' with a combining grave accent
    assert fold(decomposed) == "trang"
    assert nfc(decomposed) == "Tràng"


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("Phường Tân Định", ("Phường", "Tân Định")),
        ("Thành phố Thủ Đức", ("Thành phố", "Thủ Đức")),
        ("Thị trấn Củ Chi", ("Thị trấn", "Củ Chi")),
        ("Đặc khu Côn Đảo", ("Đặc khu", "Côn Đảo")),
        ("Somewhere", (None, "Somewhere")),
    ],
)
def test_split_unit_type(full: str, expected: tuple[str | None, str]) -> None:
    assert split_unit_type(full) == expected


def test_numeric_names_keep_their_type() -> None:
    assert display_name("Phường 9", "9") == "Phường 9"
    assert display_name("Quận 1", "1") == "Quận 1"
    assert display_name("Phường Đa Kao", "Đa Kao") == "Đa Kao"


def test_urls_are_normalised_and_redacted() -> None:
    assert plain_url("postgresql+psycopg://u:p@h:1/d") == "postgresql://u:p@h:1/d"
    assert plain_url("postgres://u@h/d") == "postgresql://u@h/d"
    assert sqlalchemy_url("postgresql://u:p@h:1/d") == "postgresql+psycopg://u:p@h:1/d"
    assert redact("postgresql://u:secret@h:1/d") == "postgresql://u:***@h:1/d"
    assert redact("postgresql://u@h/d") == "postgresql://u@h/d"


def test_settings_read_database_url_and_nested_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("GIS_DB__DATA_DIR", "/tmp/somewhere")
    monkeypatch.setenv("GIS_API__PORT", "8123")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url is not None and s.database_url.get_secret_value() == "postgresql://x@y/z"
    assert not s.uses_private_cluster
    assert s.db.data_dir == Path("/tmp/somewhere")
    assert s.api.port == 8123


def test_empty_database_url_means_private_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings(_env_file=None).uses_private_cluster  # type: ignore[call-arg]


def test_bad_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIS_API__PORT", "99999")
    with pytest.raises(ValueError, match="port"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_cluster_memory_follows_the_machine() -> None:
    from gis_platform.db.cluster import default_tuning

    small, big = default_tuning(1 << 30), default_tuning(24 << 30)
    assert small["shared_buffers"] == "128MB" and small["work_mem"] == "4MB"
    assert big["shared_buffers"] == "1024MB" and big["effective_cache_size"] == "12288MB"
    assert default_tuning(64 << 30)["shared_buffers"] == "1024MB"  # capped: several clusters may share a host


def test_opentelemetry_is_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's per-request look-up of OpenTelemetry providers runs only when the setting asks for it."""
    from gis_platform.web.app import create_app

    url = "postgresql://nobody@127.0.0.1:1/none"
    off: Any = create_app(Settings(), database_url=url)
    assert not any(off._telemetry[k] for k in ("tracing", "metrics", "logs"))
    monkeypatch.setenv("GIS_API__OPENTELEMETRY", "true")
    on: Any = create_app(Settings(), database_url=url)
    assert all(on._telemetry[k] for k in ("tracing", "metrics", "logs"))
