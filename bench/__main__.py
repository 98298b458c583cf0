"""`python -m bench` (or `make bench`): print the gateway's figures on this machine."""

from .run import main

raise SystemExit(main())
