"""``bench/spec_import.py DIR`` benches a folder of unrelated (broken) specs file by file, and a
folder that is one multi-file spec (one root) as a bundle, also when DIR itself is that folder."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

from tests.integrations.wizard_support import SPECS

BENCH = Path(__file__).resolve().parents[2] / "bench" / "spec_import.py"


def bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_spec_import", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def root(title: str, ref: str | None = None) -> str:
    paths = {"/a": {"$ref": ref}} if ref else {}
    return json.dumps({"openapi": "3.0.0", "info": {"title": title, "version": "1"},
                       "paths": paths})


def test_a_folder_of_unrelated_broken_files_is_benched_file_by_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    # one broken spec refers to a file that is not there: old code made the whole folder
    # one "bundled" spec rooted there, and benched none of the others
    (broken / "a-refers-to-a-missing-file.json").write_text(root("a", "paths/a.json"))
    (broken / "b-truncated.json").write_text(root("b")[:30])
    (broken / "c-not-a-spec.json").write_text('{"name": "package"}')
    (broken / "d-swagger-1.2.json").write_text('{"swaggerVersion": "1.2", "apis": []}')
    jobs = bench().collect(tmp_path)
    assert [(name, folder) for name, _path, folder in jobs] == [
        ("broken/a-refers-to-a-missing-file.json", None), ("broken/b-truncated.json", None),
        ("broken/c-not-a-spec.json", None), ("broken/d-swagger-1.2.json", None)]
    # DIR = the broken folder itself: the same, file by file
    assert [name for name, _p, _f in bench().collect(broken)] == [
        "a-refers-to-a-missing-file.json", "b-truncated.json", "c-not-a-spec.json",
        "d-swagger-1.2.json"]


def test_a_folder_with_one_root_is_one_bundle(tmp_path: Path) -> None:
    folder = tmp_path / "petstore-separate"
    shutil.copytree(SPECS / "oai-petstore-separate-2.0", folder)
    (tmp_path / "single.json").write_text(root("single"))
    module = bench()
    jobs = module.collect(tmp_path)
    assert [(name, path.relative_to(tmp_path).as_posix(), found)
            for name, path, found in jobs] == [
        ("petstore-separate/ (bundled)", "petstore-separate/spec/swagger.json", folder),
        ("single.json", "single.json", None)]
    # DIR may be the multi-file spec itself
    [(name, path, found)] = module.collect(folder)
    assert found == folder and path == folder / "spec" / "swagger.json"
