"""The build backend that compiles the kernels at install (build_backend/simpool_build.py).

Compiling itself is exercised for real by every fresh install (``.ci/run``) and timed by the
benchmark (``compile.install_compile``, with a check that the first call then compiles
nothing); these tests pin the packaging around it without a 30 s compile: the requirements
it adds, the wheel it rewrites, the switch that skips it, and that a failed compile never
fails an install.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build_backend"))
import simpool_build  # noqa: E402


def test_pyproject_uses_this_backend():
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]
    assert build["build-backend"] == "simpool_build"
    assert build["backend-path"] == ["build_backend"]
    assert "graft build_backend" in (REPO / "MANIFEST.in").read_text()  # in the sdist too


def test_the_build_environment_gets_what_precompile_imports_with_the_project_bounds():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    got = simpool_build._precompile_requires(REPO)
    assert sorted(got) == sorted(d for d in deps if d.split(">")[0].split("=")[0] in
                                 ("numpy", "numba", "scipy", "pydantic", "charset-normalizer"))
    assert len(got) == 5


def test_requirements_switch_off_with_the_environment_variable(monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(simpool_build._setuptools, "get_requires_for_build_editable",
                        lambda config_settings=None: ["wheel"])
    monkeypatch.setenv("SIMPOOL_PRECOMPILE", "1")
    on = simpool_build.get_requires_for_build_editable()
    monkeypatch.setenv("SIMPOOL_PRECOMPILE", "0")
    off = simpool_build.get_requires_for_build_editable()
    assert any(r.startswith("numba") for r in on)
    assert not any(r.startswith("numba") for r in off)
    assert off == ["wheel"]  # setuptools' own, and nothing else
    assert on == ["wheel", *simpool_build._precompile_requires(REPO)]


def _record_ok(wheel: Path) -> list[str]:
    """Every file of the wheel listed once in RECORD with its sha256 and size (PEP 376/427),
    checked independently of the writer; returns the names."""
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        rows = [ln.split(",") for ln in z.read(record).decode().splitlines() if ln]
        listed = {r[0]: r for r in rows}
        assert len(listed) == len(rows)  # no duplicates
        assert set(listed) == set(z.namelist())
        for name, (_, h, size) in listed.items():
            if name == record:
                assert h == "" and size == ""
                continue
            data = z.read(name)
            want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()
                                                        ).rstrip(b"=").decode()
            assert (h, int(size)) == (want, len(data)), name
        return sorted(listed)


def _toy_wheel(path: Path) -> Path:
    wheel = path / "toy-1.0-py3-none-any.whl"
    files = {"toy/__init__.py": b"x = 1\n", "toy-1.0.dist-info/METADATA": b"Name: toy\n"}
    lines = []
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append(f"{name},sha256={digest.decode()},{len(data)}")
        lines.append("toy-1.0.dist-info/RECORD,,")
        z.writestr("toy-1.0.dist-info/RECORD", "\n".join(lines) + "\n")
    return wheel


def test_files_added_to_a_wheel_are_recorded(tmp_path):
    wheel = _toy_wheel(tmp_path)
    _record_ok(wheel)
    added = {"toy/__pycache__/numba-abc/k.f-1.py311.nbi": b"\x80index",
             "toy/__pycache__/numba-abc/k.f-1.py311.1.nbc": bytes(range(256)) * 40}
    simpool_build.add_to_wheel(wheel, added)
    names = _record_ok(wheel)
    assert set(added) < set(names)
    with zipfile.ZipFile(wheel) as z:
        assert z.read("toy/__init__.py") == b"x = 1\n"
        for name, data in added.items():
            assert z.read(name) == data
    assert not list(tmp_path.glob("*.part"))


@pytest.fixture
def fake_setuptools(monkeypatch, tmp_path):
    """setuptools' hooks replaced by ones writing a toy wheel; precompile_kernels recorded."""
    calls = []

    def build(wheel_directory, config_settings=None, metadata_directory=None):
        return _toy_wheel(Path(wheel_directory)).name

    cache = tmp_path / "cache" / "numba-0123"
    cache.mkdir(parents=True)
    (cache / "waterfall.waterfall_chunk-52.py311.nbi").write_bytes(b"index")
    (cache / "waterfall.waterfall_chunk-52.py311.1.nbc").write_bytes(b"code")

    def precompile(source, cache_root=None, timeout=None):
        calls.append((Path(source), cache_root))
        return cache

    monkeypatch.setattr(simpool_build._setuptools, "build_wheel", build)
    monkeypatch.setattr(simpool_build._setuptools, "build_editable", build)
    monkeypatch.setattr(simpool_build, "precompile_kernels", precompile)
    out = tmp_path / "dist"
    out.mkdir()
    return calls, out


def test_an_editable_build_compiles_in_the_source_tree(fake_setuptools, monkeypatch):
    calls, out = fake_setuptools
    monkeypatch.setenv("SIMPOOL_PRECOMPILE", "1")
    monkeypatch.chdir(REPO)
    name = simpool_build.build_editable(str(out))
    assert calls == [(REPO, None)]  # where the installed package looks: the caller's env decides
    assert not any("numba-" in n for n in _record_ok(out / name))


def test_a_wheel_carries_the_compiled_kernels(fake_setuptools, monkeypatch):
    calls, out = fake_setuptools
    monkeypatch.setenv("SIMPOOL_PRECOMPILE", "1")
    monkeypatch.chdir(REPO)
    name = simpool_build.build_wheel(str(out))
    assert len(calls) == 1 and calls[0][1] is not None  # into a temporary folder
    names = _record_ok(out / name)
    assert "simpool/engine/__pycache__/numba-0123/waterfall.waterfall_chunk-52.py311.nbi" in names
    assert "simpool/engine/__pycache__/numba-0123/waterfall.waterfall_chunk-52.py311.1.nbc" in names


@pytest.mark.parametrize("precompile", ["1", "0"])
def test_a_wheel_carries_the_scenarios_with_their_layout(fake_setuptools, monkeypatch, tmp_path,
                                                         precompile):
    """A regular install finds hubei_base, the what-ifs and their ``extends = "../..."`` inside
    the package, with or without the compiled kernels."""
    calls, out = fake_setuptools
    monkeypatch.setenv("SIMPOOL_PRECOMPILE", precompile)
    monkeypatch.chdir(REPO)
    name = simpool_build.build_wheel(str(out))
    names = _record_ok(out / name)
    shipped = sorted(p.relative_to(REPO / "scenarios").as_posix()
                     for p in (REPO / "scenarios").rglob("*.toml"))
    assert len(shipped) > 30
    in_wheel = sorted(n.removeprefix("simpool/scenarios/") for n in names
                      if n.startswith("simpool/scenarios/") and n.endswith(".toml"))
    assert in_wheel == shipped
    with zipfile.ZipFile(out / name) as z:
        z.extractall(tmp_path / "site", [n for n in names if n.startswith("simpool/scenarios/")])
        assert z.read("simpool/scenarios/whatif/fee_half.toml") == (
            REPO / "scenarios/whatif/fee_half.toml").read_bytes()
    # the extracted tree is what simpool.scenarios_dir() finds inside an installed package
    # (no checkout beside it), and its what-ifs load through their extends
    import simpool
    from simpool.scenario import load_scenario as load

    monkeypatch.delenv("SIMPOOL_SCENARIOS", raising=False)
    monkeypatch.setattr(simpool, "__file__", str(tmp_path / "site/simpool/__init__.py"))
    assert simpool.scenarios_dir() == (tmp_path / "site/simpool/scenarios").resolve()
    sc = load(simpool.example("whatif/fee_half"))
    assert sc.guarantors[0].fee_rate == 0.005 == load(REPO / "scenarios/whatif/fee_half.toml"
                                                     ).guarantors[0].fee_rate


@pytest.mark.parametrize("hook", ["build_wheel", "build_editable"])
def test_precompile_can_be_switched_off(fake_setuptools, monkeypatch, hook):
    calls, out = fake_setuptools
    monkeypatch.setenv("SIMPOOL_PRECOMPILE", "0")
    monkeypatch.chdir(REPO)
    name = getattr(simpool_build, hook)(str(out))
    assert calls == []
    assert not any("numba-" in n for n in _record_ok(out / name))


def test_a_failed_compile_warns_and_lets_the_install_go_on(tmp_path, capsys):
    broken = tmp_path / "src"
    (broken / "simpool").mkdir(parents=True)
    (broken / "simpool" / "__init__.py").write_text("raise ImportError('no numba here')\n")
    assert simpool_build.precompile_kernels(broken, cache_root=str(tmp_path / "c")) is None
    err = capsys.readouterr().err
    assert "no numba here" in err  # the child's own message is shown ...
    assert "compile at the first run" in err  # ... and what happens instead


def test_a_compile_past_its_time_limit_warns_and_lets_the_install_go_on(tmp_path, capsys):
    assert simpool_build.precompile_kernels(REPO, cache_root=str(tmp_path), timeout=0.01) is None
    assert "compile at the first run" in capsys.readouterr().err
