"""Serial I/O shared by the scanner and robot drivers: a reader-thread link with reconnect
(`link`) and line framing (`framing`). Imports nothing of the project."""
