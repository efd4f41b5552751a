"""The README's configuration example is a valid config (issue 13, item 6): extracted from the README and run
through `carbon-gateway check-config`, as a reader would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.gateway import REPO_ROOT


def configuration_example() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the Configuration section has one YAML example"
    return blocks[0]


def test_the_readme_configuration_example_passes_check_config(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(configuration_example())
    env = {k: v for k, v in os.environ.items() if k not in ("SCW_SECRET_KEY", "ANTHROPIC_API_KEY", "REDIS_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", str(path)],
        cwd=REPO_ROOT,
        env={**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(valid)" in done.stdout
    assert "fallbacks: llama-3.1-8b-instruct -> local-vllm" in done.stdout
