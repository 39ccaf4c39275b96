"""`python -m robustlab.study FILE.yaml` (see `--help`)."""

from robustlab.study.cli import main

raise SystemExit(main())
