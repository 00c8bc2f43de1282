# Top-level conftest: enables pytester for the test suite (the plugin itself is loaded by its entry point).
pytest_plugins = ["pytester"]
