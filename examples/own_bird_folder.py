"""Make a practice folder for docs/tutorial_own_bird.md from the bundled Bird0 songs.

    python examples/own_bird_folder.py my_bird --annotated 6

copies the 20 bundled Bird0 songs (examples/data/bird0/Wave, CC BY 4.0) into ``my_bird/`` and
writes the first ``--annotated`` of them a per-file annotation beside the song, as a person
annotating their own bird would (``0.wav`` + ``0.wav.csv``, crowsetta ``simple-seq``), taken
from the data set's own annotation (``Annotation.xml``). With your own recordings, skip this.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil

import crowsetta

from vocalpy_xai.io import read_annotations, write_annotations
from vocalpy_xai.io.manifest import natural_key

BIRD0 = pathlib.Path(__file__).resolve().parent / "data" / "bird0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="folder to create")
    parser.add_argument("--annotated", type=int, default=6, help="songs given an annotation")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.folder)
    folder.mkdir(parents=True, exist_ok=False)
    annots = read_annotations(BIRD0 / "Annotation.xml", "birdsong-recognition-dataset")
    annots = sorted(annots, key=lambda a: natural_key(pathlib.Path(a.notated_path).name))
    for i, annot in enumerate(annots):
        wav = folder / pathlib.Path(annot.notated_path).name
        shutil.copy(BIRD0 / "Wave" / wav.name, wav)
        if i < args.annotated:
            target = folder / f"{wav.name}.csv"
            write_annotations(
                crowsetta.Annotation(annot_path=target, notated_path=wav, seq=annot.seq),
                target,
                "simple-seq",
            )
    print(f"{folder}: {len(annots)} songs, the first {args.annotated} annotated (*.wav.csv)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
