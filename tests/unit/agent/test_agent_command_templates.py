import pytest

from installer_agent.domain.command_templates import (
    INSTALLER_PLACEHOLDERS,
    InvalidTemplate,
    check_template,
    render,
)
from installer_agent.settings import AgentSettings

VALUES = {"package": "/var/artifacts/sha256/ab", "version": "1.2.0", "product": "shop"}


def test_placeholders_are_substituted_inside_their_own_argument() -> None:
    argv = render("sh tools/demo-host/install.sh {package} v={version} {product}", VALUES)
    assert argv == ["sh", "tools/demo-host/install.sh", "/var/artifacts/sha256/ab", "v=1.2.0",
                    "shop"]


def test_a_value_with_spaces_or_shell_syntax_stays_one_argument() -> None:
    argv = render("install --pkg {package}", {"package": "/tmp/a b; rm -rf / #$(x)"})
    assert argv == ["install", "--pkg", "/tmp/a b; rm -rf / #$(x)"]


def test_a_value_looking_like_a_placeholder_is_not_substituted_again() -> None:
    assert render("x {product} {version}", {"product": "{version}", "version": "1"}) == [
        "x", "{version}", "1"
    ]


def test_quoted_template_words_keep_their_spaces() -> None:
    argv = render("'/opt/my installer/run' --label 'v {version}'", VALUES)
    assert argv == ["/opt/my installer/run", "--label", "v 1.2.0"]


def test_unknown_placeholder_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(InvalidTemplate, match=r"unknown placeholder \{pakage\}.*\{package\}"):
        check_template("install {pakage}", INSTALLER_PLACEHOLDERS)


@pytest.mark.parametrize("template", ["", "   ", "install 'unterminated"])
def test_empty_or_unsplittable_templates_are_refused(template: str) -> None:
    with pytest.raises(InvalidTemplate):
        check_template(template, INSTALLER_PLACEHOLDERS)


def test_settings_refuse_a_version_command_using_the_package() -> None:
    with pytest.raises(ValueError, match="unknown placeholder"):
        AgentSettings(site_id="site-a", version_command="version {package}")


def test_settings_defaults_use_the_demo_host_scripts() -> None:
    settings = AgentSettings(site_id="site-a", insecure_unverified_installs=True)
    assert render(settings.installer_command, VALUES)[1] == "tools/demo-host/install.sh"
    assert settings.timeout_s == 1800 and settings.heartbeat_interval_s == 5
    assert settings.port == 8003 and settings.log_tail_lines == 50


def test_settings_refuse_a_bad_site_id() -> None:
    with pytest.raises(ValueError):
        AgentSettings(site_id="Site A")
