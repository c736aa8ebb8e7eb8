import pytest


@pytest.fixture(autouse=True)
def _isolated_export_dir(settings, tmp_path):
    """Each test writes its archives into its own directory."""
    settings.ZT_EXPORT_DIR = str(tmp_path / "exports")
