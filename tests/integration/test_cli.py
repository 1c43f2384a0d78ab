"""The `warp` command line: usage, version, configuration checking."""
import os

from conftest import ROOT, run_warp


def test_version_prints_version():
    r = run_warp(["version"])
    assert r.returncode == 0
    assert r.stdout.startswith("warp ")


def test_help_lists_commands():
    r = run_warp(["--help"])
    assert r.returncode == 0
    for cmd in ("run", "migrate", "admin-token create", "admin-token revoke", "config check",
                "version"):
        assert cmd in r.stdout


def test_no_command_is_usage_error():
    r = run_warp([])
    assert r.returncode == 2
    assert "usage: warp" in r.stderr


def test_unknown_command_is_usage_error():
    r = run_warp(["frobnicate"])
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr
    assert "usage: warp" in r.stderr


def test_unexpected_argument_is_usage_error():
    r = run_warp(["run", "--bogus"])
    assert r.returncode == 2
    assert "unexpected argument '--bogus'" in r.stderr


def test_shipped_config_is_valid():
    r = run_warp(["config", "check", "-c", os.path.join(ROOT, "etc", "warp.ini")])
    assert r.returncode == 0, r.stderr
    assert "configuration ok" in r.stdout


def test_shipped_config_documents_every_key():
    """etc/warp.ini is what `warp config example` writes: every key documented."""
    r = run_warp(["config", "example"])
    assert r.returncode == 0
    with open(os.path.join(ROOT, "etc", "warp.ini")) as f:
        assert f.read() == r.stdout


def test_missing_config_file_names_it(tmp_path):
    path = tmp_path / "nope.ini"
    r = run_warp(["config", "check", "-c", str(path)])
    assert r.returncode == 2
    assert str(path) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_key_names_file_line_and_key(tmp_path):
    path = tmp_path / "w.ini"
    path.write_text("[http]\nlisten = 127.0.0.1:8080\nlisen = 1\n")
    r = run_warp(["config", "check", "-c", str(path)])
    assert r.returncode == 2
    assert "%s:3" % path in r.stderr
    assert "lisen" in r.stderr


def test_bad_value_names_file_line_and_key(tmp_path):
    path = tmp_path / "w.ini"
    path.write_text("[log]\nlevel = chatty\n")
    r = run_warp(["config", "check", "-c", str(path)])
    assert r.returncode == 2
    assert "%s:2" % path in r.stderr
    assert "level" in r.stderr


def test_env_override_bad_value_names_variable(tmp_path):
    path = tmp_path / "w.ini"
    path.write_text("")
    r = run_warp(["config", "check", "-c", str(path)], env={"WARP_HTTP_LISTEN": "not-an-address"})
    assert r.returncode == 2
    assert "WARP_HTTP_LISTEN" in r.stderr


def test_unknown_role_is_refused(tmp_path):
    path = tmp_path / "w.ini"
    path.write_text("[run]\nroles = api,fax\n")
    r = run_warp(["config", "check", "-c", str(path)])
    assert r.returncode == 2
    assert "unknown role 'fax'" in r.stderr


def test_migrate_creates_and_reports_store(tmp_path):
    path = tmp_path / "w.ini"
    path.write_text("[store]\nurl = sqlite:%s\n" % (tmp_path / "w.db"))
    r = run_warp(["migrate", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    assert "store at migration" in r.stdout
    again = run_warp(["migrate", "-c", str(path)])
    assert again.returncode == 0, again.stderr
