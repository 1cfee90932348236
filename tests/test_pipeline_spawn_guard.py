"""A script that calls embed_manifest without an ``if __name__ == "__main__":`` guard.

Python's spawn start method re-imports the script in every worker, whose bootstrap then
fails; the runner must stop at once with an explanation, not recreate dying pools forever.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from PIL import Image

from faceaudit.pipeline._runner import SPAWN_HINT


def test_unguarded_script_fails_fast_with_a_hint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for subject in ("a", "b"):
        (tmp_path / subject).mkdir()
        for k in range(2):
            Image.new("RGB", (32, 32), (40 * k, 80, 120)).save(tmp_path / subject / f"{k}.png")
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        from faceaudit.datasets import load_folder
        from faceaudit.pipeline import FakeEmbedder, embed_manifest

        m = load_folder({str(tmp_path)!r})
        embed_manifest(m, embedder=FakeEmbedder(), detector="none", n_workers=2, progress=False)
        print("finished")
    """))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode != 0
    assert "finished" not in proc.stdout
    assert SPAWN_HINT.split(".")[0] in proc.stderr
    assert '__name__ == "__main__"' in proc.stderr
