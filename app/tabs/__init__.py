"""One tab per model. Each tab is a :class:`app.tabs.base.ModelTab`."""
