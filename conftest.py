"""Enables the conformance plugin for this repo's own runs when the package is not installed
(PYTHONPATH=. pytest ...). Installed, the plugin is already registered by its pytest11 entry point.
(`pytest_plugins` is not used: pytest rejects it in a conftest that is not at the rootdir, which this
file is not when `conformance run --root elsewhere` collects conformance/suite.py.)"""
import importlib


def pytest_addoption(parser, pluginmanager):
    if not pluginmanager.has_plugin("conformance.plugin"):
        pluginmanager.register(importlib.import_module("conformance.plugin"), "conformance.plugin")
