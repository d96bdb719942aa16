"""Settings: GUICHET_* variables, nested groups, normalisation, production guards."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from guichet.core.config import Settings


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


class TestSettings:
    def test_defaults_are_the_embedded_mode(self) -> None:
        settings = Settings(_env_file=None)
        assert settings.is_embedded and settings.run_worker_in_process
        assert (settings.host, settings.port) == ("127.0.0.1", 8000)
        assert settings.blobs_dir == Path("var/blobs")
        assert settings.outbox_dir == Path("var/outbox")
        assert settings.base_url == "http://127.0.0.1:8000"

    def test_nested_groups_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = load(
            monkeypatch,
            GUICHET_HOME="/srv/guichet",
            GUICHET_SMTP__HOST="smtp.example.fr",
            GUICHET_SMTP__PASSWORD="hunter2",
            GUICHET_STORAGE__BACKEND="s3",
            GUICHET_STORAGE__S3__BUCKET="guichet",
            GUICHET_WORKER__QUEUES='["mail", "depot"]',
            GUICHET_LOG__LEVEL="debug",
        )
        assert settings.home == Path("/srv/guichet")
        assert settings.smtp.host == "smtp.example.fr"
        assert settings.smtp.password is not None and "hunter2" not in repr(settings)
        assert settings.storage.s3.bucket == "guichet"
        assert settings.worker.queues == ["mail", "depot"]
        assert settings.log.level == "DEBUG"

    @pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
    def test_database_url_always_uses_psycopg(self, scheme: str) -> None:
        settings = Settings(_env_file=None, database_url=f"{scheme}://u:p@db/guichet")
        assert settings.sqlalchemy_url == "postgresql+psycopg://u:p@db/guichet"
        assert not settings.is_embedded and not settings.run_worker_in_process

    def test_database_url_must_be_postgres(self) -> None:
        with pytest.raises(ValidationError):
            Settings(_env_file=None, database_url="mysql://u@db/x")

    def test_embedded_url_keeps_embedded_mode(self) -> None:
        settings = Settings(_env_file=None).with_embedded_database("postgresql://p@/g?host=/s")
        assert settings.is_embedded and settings.run_worker_in_process
        assert settings.sqlalchemy_url == "postgresql+psycopg://p@/g?host=/s"

    def test_embedded_url_needed_before_connecting(self) -> None:
        with pytest.raises(RuntimeError):
            _ = Settings(_env_file=None).sqlalchemy_url


class TestProductionGuards:
    def test_database_required(self) -> None:
        with pytest.raises(ValidationError, match="GUICHET_DATABASE_URL"):
            Settings(_env_file=None, environment="production")

    @pytest.mark.parametrize("token", ["changethis", "short"])
    def test_placeholder_admin_token_refused(self, token: str) -> None:
        with pytest.raises(ValidationError, match="GUICHET_ADMIN_TOKEN"):
            Settings(
                _env_file=None,
                environment="production",
                database_url="postgresql://u@db/g",
                admin_token=token,
            )

    def test_s3_backend_needs_a_bucket(self) -> None:
        with pytest.raises(ValidationError, match="BUCKET"):
            Settings(
                _env_file=None,
                environment="production",
                database_url="postgresql://u@db/g",
                storage={"backend": "s3"},
            )


class TestEnvExample:
    def test_lists_every_setting(self) -> None:
        """`.env.example` documents every variable the settings read."""
        text = (Path(__file__).parents[2] / ".env.example").read_text()
        listed = {line.split("=")[0].lstrip("# ") for line in text.splitlines() if "=" in line}
        assert set(_variables(Settings)) <= listed


def _variables(model: type[BaseModel], prefix: str = "GUICHET_") -> list[str]:
    names = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names += _variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.append(f"{prefix}{name.upper()}")
    return names
