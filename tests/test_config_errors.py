"""Every problem of a stack file at once, in the file's own words: a top-level typo does not hide the
rest, apps are named by name, `./run render` adds file and line, and a YAML syntax error is reported
with file, line and column and no traceback."""
from __future__ import annotations

import pytest

from cache_patterns.config.errors import ConfigError
from tools import harness, render

SEVEN_MISTAKES = {
    "cache-patterns:environment": "prod",                            # 1: not an environment
    "cache-patterns:kubernetesVerison": "1.30",                      # 2: misspelt top-level key
    "kubernetes:context": "prod-cluster",                            # 3: a provider key the program ignores
    "cache-patterns:caches": {"sessions": {"pattern": "statefulset", "replicas": -1,    # 4
                                           "memory": "lots"}},       # 5
    "cache-patterns:apps": [
        {"name": "checkout", "image": "ghcr.io/acme/checkout:1.0.0", "cache": "sessions", "replica": 2},  # 6
        {"name": "accounts", "image": "ghcr.io/acme/accounts:1.0.0", "cache": "session"},                # 7
    ],
}
EXPECTED = {
    "environment": "'prod' is not one of production, staging, development",
    "cache-patterns:kubernetesVerison": "did you mean 'kubernetesVersion'?",
    "kubernetes:context": "providers are explicit; set kubeContext instead",
    "caches.sessions.replicas": "must be >= 0, got -1",
    "caches.sessions.memory": "must be a memory quantity such as 256Mi",
    "apps[checkout].replica": "unknown key 'replica'; did you mean 'replicas'?",
    "apps[accounts].cache": "'session' is not a cache of this stack (caches: sessions)",
}


def test_seven_mistakes_are_reported_in_one_run():
    with pytest.raises(ConfigError) as err:
        harness.run("seven", SEVEN_MISTAKES)
    problems = dict(err.value.problems)
    assert set(problems) == set(EXPECTED), err.value
    for key, fragment in EXPECTED.items():
        assert fragment in problems[key], (key, problems[key])
    assert str(err.value).startswith("invalid stack config (7 problems):")


def test_a_dangling_reference_is_found_even_when_its_cache_does_not_parse():
    cfg = dict(SEVEN_MISTAKES)
    cfg["cache-patterns:apps"] = [{"name": "web", "image": "w:1", "cache": "sessions", "passwordEnv": True},
                                  {"name": "web", "image": "w:1", "cache": "elsewhere"}]
    with pytest.raises(ConfigError) as err:
        harness.run("dangling", cfg)
    problems = dict(err.value.problems)
    assert "apps[1].name" in problems and "already the name of apps[0]" in problems["apps[1].name"]
    assert "'elsewhere' is not a cache of this stack" in problems["apps[1].cache"]
    assert "apps[0].cache" not in problems     # `sessions` exists, it only failed to parse


@pytest.fixture
def stacks_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "STACKS_DIR", tmp_path)
    return tmp_path


def test_render_names_file_and_line_of_every_problem(stacks_dir, capsys):
    (stacks_dir / "Pulumi.bad.yaml").write_text(
        "config:\n"
        "  cache-patterns:environment: development\n"
        "  cache-patterns:caches:\n"
        "    web:\n"
        "      pattern: sidecar\n"
        "      memory: lots\n"
        "  cache-patterns:apps:\n"
        "    - name: api\n"
        "      image: nginx\n"
        "      cache: web\n")
    assert render.main(["bad", "--no-validate", "--out", str(stacks_dir / "out")]) == 2
    err = capsys.readouterr().err
    path = stacks_dir / "Pulumi.bad.yaml"
    assert f"{path}:6: caches.web.memory: must be a memory quantity" in err
    assert f"{path}:9: apps[api].image: must be an image reference" in err
    assert "Traceback" not in err


def test_a_yaml_syntax_error_names_file_line_and_column_without_a_traceback(stacks_dir, capsys):
    (stacks_dir / "Pulumi.broken.yaml").write_text(
        "config:\n  cache-patterns:environment: development\n  cache-patterns:caches:\n\tweb: {pattern: sidecar}\n")
    assert render.main(["broken", "--no-validate", "--out", str(stacks_dir / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{stacks_dir / 'Pulumi.broken.yaml'}:4:1: not valid YAML" in err
    assert "Traceback" not in err and err.count("\n") <= 3


def test_the_pulumi_cli_prints_a_config_error_without_a_traceback():
    """The language host prints a pulumi.RunError as its message alone (pulumi-language-python-exec:
    `except pulumi.RunError as e: pulumi.log.error(str(e))`); any other exception with a traceback."""
    import pulumi

    assert issubclass(ConfigError, pulumi.RunError)


def test_an_unknown_key_inside_a_block_is_the_only_problem_of_that_block():
    """Issue 18.3: `aws.bogusSetting` in the prod stack is one problem, not also "needs the `aws` key"
    for every ElastiCache cache: a block with an error in it is present."""
    cfg = harness.load_stack_config("prod")
    cfg["cache-patterns:aws"] = {**cfg["cache-patterns:aws"], "bogusSetting": 1}
    with pytest.raises(ConfigError) as err:
        harness.run("prod", cfg)
    assert [k for k, _ in err.value.problems] == ["aws.bogusSetting"], err.value
    assert "unknown key 'bogusSetting'" in err.value.problems[0][1]


def test_a_stack_without_aws_still_hears_that_its_elasticache_caches_need_it():
    cfg = harness.load_stack_config("prod")
    del cfg["cache-patterns:aws"]
    with pytest.raises(ConfigError) as err:
        harness.run("prod", cfg)
    problems = dict(err.value.problems)
    assert "kind: elasticache needs the `aws` key" in problems["caches.sessions"]


@pytest.mark.parametrize("written,meant", [("1GB", "1Gi"), ("512mb", "512Mi"), ("2gi", "2Gi"), ("64MiB", "64Mi")])
def test_a_memory_in_the_wrong_units_gets_the_quantity_it_probably_means(written, meant):
    from cache_patterns import stack as config

    with pytest.raises(ConfigError) as err:
        config.parse({"environment": "development", "caches": {"web": {"pattern": "sidecar", "memory": written}}}, "t")
    assert f"got {written!r} (did you mean {meant}?)" in dict(err.value.problems)["caches.web.memory"]


def test_render_lists_the_problems_in_the_order_of_the_file(stacks_dir, capsys):
    (stacks_dir / "Pulumi.order.yaml").write_text(
        "config:\n"
        "  cache-patterns:apps:\n"
        "    - name: api\n"
        "      image: nginx\n"
        "      cache: web\n"
        "  cache-patterns:environment: development\n"
        "  cache-patterns:caches:\n"
        "    web:\n"
        "      pattern: sidecar\n"
        "      memory: lots\n"
        "  cache-patterns:kubernetesVersion: \"1.20\"\n")
    assert render.main(["order", "--no-validate", "--out", str(stacks_dir / "out")]) == 2
    err = capsys.readouterr().err
    lines = [int(line.split(":")[1]) for line in err.splitlines() if line.startswith(f"  {stacks_dir}")]
    assert lines == sorted(lines) and lines == [4, 10, 11], err
