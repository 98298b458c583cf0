"""`make fuzz`: the long campaign, on a fresh SQLite file (or FUZZ_DATABASE_URL, which must
be an empty, migrated or migratable database). FUZZ_EXAMPLES cases per operation and mode
(300 by default), FUZZ_SEED for a random start (default: a new one each run, printed)."""

from __future__ import annotations

import os
import random
import sys
import tempfile
from pathlib import Path

from open311 import create_app
from open311.migrate import upgrade
from tests.fuzz.campaign import WEBHOOK_AGENCY, WEBHOOK_SECRET, run_campaign
from tests.support.openapi_shapes import demo_config_copy


def main() -> int:
    examples = int(os.environ.get("FUZZ_EXAMPLES", "300"))
    seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**32))
    with tempfile.TemporaryDirectory(prefix="open311-fuzz-") as folder:
        url = os.environ.get("FUZZ_DATABASE_URL") or f"sqlite:///{folder}/fuzz.db"
        upgrade(url)
        config = demo_config_copy(Path(folder), {WEBHOOK_AGENCY: WEBHOOK_SECRET})
        app = create_app(
            {
                "DATABASE_URL": url,
                "CONFIG": str(config),
                "TESTING": True,
                "RATELIMIT_ENABLED": False,
            }
        )
        print(f"fuzz: seed {seed} (FUZZ_SEED={seed} repeats this run)", flush=True)
        try:
            summary = run_campaign(app, examples, seed=seed)
        finally:
            app.extensions["open311"].db.dispose()
    print(summary.report())
    return 1 if summary.findings else 0


if __name__ == "__main__":
    sys.exit(main())
