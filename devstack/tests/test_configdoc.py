"""docs/configuration.md is what the settings classes say, not what someone remembered."""

from devstack import configdoc


def test_configuration_reference_is_in_sync_with_the_settings_classes() -> None:
    committed = configdoc.DOC_PATH.read_text()
    assert committed == configdoc.render(), (
        "docs/configuration.md is stale: run `uv run --frozen devstack config-doc`"
    )


def test_every_setting_is_documented_with_its_default() -> None:
    rendered = configdoc.render()
    for _, cls in configdoc._services():
        for name in cls.model_fields:
            assert f"| `{name}` |" in rendered
    assert "dev-internal-token" not in rendered  # secrets' placeholders are not advertised
