"""`python -m tests.transcripts [--update] [--locale L] [TEMPLATE ...]`: check or rewrite the transcripts."""

from __future__ import annotations

import argparse
import sys

from tests.transcripts.check import compare, stale_files, write_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.transcripts", description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite the transcript files")
    parser.add_argument("--locale", action="append", choices=["zh-CN", "en"], help="only this locale")
    parser.add_argument("templates", nargs="*", help="only these templates")
    args = parser.parse_args(argv)
    templates = set(args.templates) or None
    if args.update:
        for path in write_all(templates=templates, locales=args.locale):
            print(f"changed {path}")
        if templates is None and not args.locale:
            for path in stale_files():
                path.unlink()
                print(f"removed {path} (no such template any more)")
        return 0
    diffs = compare(templates=templates, locales=args.locale)
    for diff in diffs.values():
        sys.stdout.write(diff)
    if diffs:
        print(f"{len(diffs)} transcript(s) differ; `python -m tests.transcripts --update` rewrites them.")
        return 1
    print("transcripts match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
