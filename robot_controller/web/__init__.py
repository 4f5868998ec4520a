"""The screens and the HTTP API: `/bench`, `/robot`, `/compliance`, `/api/v1`, `/metrics`.

`create_app(services)` builds the FastAPI app over what the running daemon (or a test) hands it
(`WebServices`); `serve` runs it beside the daemon, in its event loop. Every route declares who
may use it (`access`), and the app refuses to build with a route that does not.
"""

from robot_controller.web.app import create_app
from robot_controller.web.server import WebServer
from robot_controller.web.services import WebServices

__all__ = ["WebServer", "WebServices", "create_app"]
