"""Python client of Maestro's HTTP API (standard library only).

Tables, runs (trigger, wait, cancel), trigger URLs (make them; fire_trigger signs a delivery), costs, history, waiting for a table to be fresh, and a
table's latest export as rows or, when pandas is installed, as a DataFrame::

    from maestro_client import Client

    m = Client()                       # $MAESTRO_API / $MAESTRO_TOKEN, or maestro dev's defaults
    m.wait_for_fresh("marts.daily", timeout=3600)
    rows = m.read_rows("marts.daily")
"""

from .client import Client, FreshMark, Runs, Tables, Triggers, fire_trigger, parse_rows, sign
from .errors import (APIError, AuthenticationError, BadRequestError, ConflictError, ExportError, FieldError,
                     ForbiddenError, MaestroError, NotFoundError, PreconditionFailedError, RunFailedError,
                     ServerError, ValidationError, WaitTimeout)
from .models import ExportFile, Node, Run, Stats, Table, TablePage

__all__ = [
    "Client", "Tables", "Runs", "Triggers", "FreshMark", "parse_rows", "fire_trigger", "sign",
    "Table", "TablePage", "Run", "Node", "Stats", "ExportFile",
    "MaestroError", "APIError", "BadRequestError", "AuthenticationError", "ForbiddenError", "NotFoundError",
    "ConflictError", "PreconditionFailedError", "ValidationError", "ServerError", "FieldError",
    "WaitTimeout", "RunFailedError", "ExportError",
]
__version__ = "0.1.0"
