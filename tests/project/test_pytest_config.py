"""The test suite itself: a deadlock must fail the run, not hang it."""


def test_every_test_has_a_default_deadline(request):
    assert request.config.pluginmanager.hasplugin("timeout"), "pytest-timeout is not active (pip install -e '.[dev]')"
    timeout = float(request.config.getini("timeout") or 0)
    assert 0 < timeout <= 600, f"pyproject's [tool.pytest.ini_options] timeout is {timeout}: set a default deadline"
