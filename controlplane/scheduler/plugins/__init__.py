"""One module per scheduling plugin; each is a few pure functions plus a small class
that plugs them into the framework's extension points."""
