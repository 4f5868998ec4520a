"""The screens and the HTTP API: `/bench`, `/robot`, `/compliance`, `/api/v1`, `/metrics`.

`app.create_app(services)` builds the FastAPI app over what the running daemon (or a test)
hands it (`services.WebServices`); `server.WebServer` runs it beside the daemon, in its event
loop (`beside.web_beside`). Every route declares who may use it (`access`), and the app refuses
to build with a route that does not. Nothing is imported here: the command line imports
`beside` on every start, and the app's modules load only when the screens are served.
"""
