"""The fronts of this installation: the one list the app, the worker, the CLI and the migrations
read (adding a front: its `front.py`, and one line here)."""

from __future__ import annotations

from guichet.console.front import FRONT as CONSOLE
from guichet.core.fronts import Front
from guichet.depot.front import FRONT as DEPOT
from guichet.partners.front import FRONT as PARTNERS

FRONTS: tuple[Front, ...] = (DEPOT, PARTNERS, CONSOLE)
